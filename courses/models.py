# Course and Enrollment arrive with the courses issue.
