"""One folder per sheet: everything the instructor side knows about that sheet."""
