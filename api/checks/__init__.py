"""Officers' on-demand checks of one URL (a 12365 complaint, a tip-off): crawled, matched and
captured at once, shown in the queue with their origin. ``store`` keeps the rows,
``submit`` hands a check to the workers or to a child process, ``routes`` serves them."""
