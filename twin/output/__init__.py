"""What a run presents: results.json with its CSVs, report.md, report.html pages, figures and
the plots of both engines' outcomes. Above the engines (it may read their dataclasses), below
the command line, which runs an engine and then writes its output here."""
