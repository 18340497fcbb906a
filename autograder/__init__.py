"""Instructor-side code of the course: hidden-test checks, the grading command, the
release builder and the demo.  It never ships to students.

    python -m autograder release [--check]   # source/ -> assignments/, solutions/, dist/
    python -m autograder grade SUBMISSIONS    # sandboxed nbgrader autograde
    python -m autograder demo                 # sample submissions, graded, score table
    python -m autograder sample [ROOT]        # cut the CIFAR-10 sample from a full copy
"""
SHEETS = ("sheet1_analytic", "sheet2_cifar", "sheet3_vgg", "sheet4_influence")
