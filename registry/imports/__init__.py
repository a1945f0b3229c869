"""Bringing an existing register in: customers from a CSV or XLSX file.

Three layers: `reading` (bytes -> a table of text), `analysis` (rows ->
what would happen to each) and `services` (writing, undoing, expiring).

The steps, each a function of this package so that the web pages and
`manage.py import_customers` do the same thing:

1. `read_table`: bytes of an uploaded file -> header and rows of text, or an
   `ImportFileError` saying in plain words what is wrong with the file;
2. `guess_mapping`: the file's headers -> customer fields (Finnish and English);
3. `import_preview`: every row -> added, already in the register, or
   rejected with its reasons (`analysis.decided_rows`, a chunk at a time);
   the same validation and normalisation as the customer form; kept as the
   preview's rows (`ImportPreviewRow`), which its pages read a page at a time;
4. `import_apply`: writes the added rows in one transaction (audited),
   from the preview's check when it is of the same mapping and options, and
   the file's objections and withdrawals for the customers already in the
   register (never a consent);
5. `import_undo`: removes an import's customers that nobody has touched since.
"""
