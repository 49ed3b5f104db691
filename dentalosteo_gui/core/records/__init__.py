"""What is kept and handed out: history, audit chain, PDF report, de-identification."""
