"""Paper table specs and the paper's reported numbers (a packaged copy of paper_tables.csv)."""
