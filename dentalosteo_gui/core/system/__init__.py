"""Where things live and how the process runs: paths, settings, logging, atomic writes."""
