"""Plausible wrong answers per sheet, used to show that the hidden tests reject them."""
