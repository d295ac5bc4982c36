"""What a researcher looks at after the runs: the run catalog (`catalog`), one page of every table and figure
(`page`), and the paper's tables as the paper prints them (`paper_print`). The CLI's `runs`, `report` and
`paper` commands call only this package."""
