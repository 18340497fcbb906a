"""The demo's score table adds up cells.csv per student and sheet."""
import csv

from autograder.demo import score_table


def _write(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def test_score_table_sums_autograded_points_and_counts_manual_ones(tmp_path):
    _write(tmp_path / "grades.csv", ["student", "sheet", "score", "max_score", "status"],
           [["ann", "sheet1_analytic", "3", "9", "graded"], ["bob", "sheet1_analytic", "0", "9", "timeout in test_b"]])
    _write(tmp_path / "cells.csv", ["student", "sheet", "grade_id", "kind", "score", "max_score", "status"],
           [["ann", "sheet1_analytic", "test_a", "auto", "2", "2", "passed"],
            ["ann", "sheet1_analytic", "test_b", "auto", "1", "3", "partial"],
            ["ann", "sheet1_analytic", "why", "manual", "0", "4", "needs manual grading"],
            ["bob", "sheet1_analytic", "test_a", "auto", "0", "2", "failed"],
            ["bob", "sheet1_analytic", "test_b", "auto", "0", "3", "timeout"],
            ["bob", "sheet1_analytic", "why", "manual", "0", "4", "needs manual grading"]])
    lines = score_table(tmp_path).splitlines()
    assert lines[0].split() == ["student", "sheet1_analytic"]
    assert lines[1].split() == ["ann", "3/5", "+4", "by", "hand"]
    assert lines[2].split() == ["bob", "0/5", "+4", "by", "hand"]
    assert lines[-1].strip() == "bob/sheet1_analytic: timeout in test_b"
