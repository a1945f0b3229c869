"""The rights of the data subject (GDPR articles 15-17 and 20): requests as
cases, access reports, erasure and retention."""
