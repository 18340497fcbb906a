"""The instructor part of the toy sheet that the grading corpus grades
(``tests/grading/source/toy``): its challenges, kernel-side probes and checks, in the
same form as the course's sheets in ``autograder/sheets``.  Found through
``--sheets-dir tests/grading/sheets`` or ``COURSE_SHEETS_DIR``."""
