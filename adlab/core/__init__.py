"""Pure domain rules shared by every layer; imports nothing else of adlab.

canonical values, the grouping rule (one seed-like rule), run identity (RunSpec), and the
vocabulary of metrics and artifacts. Everything above (config, db, queue, analysis, TUI)
asks these modules instead of keeping its own copy.
"""
