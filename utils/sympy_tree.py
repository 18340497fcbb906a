"""A sympy answer as plain data: the tree the grader reads back with its own parser.

:func:`encode` walks an expression or matrix and writes every node as a JSON list
``[class name, ...]``; only nodes whose type is *exactly* one of the classes below are
written (a subclass is not trusted to describe itself), so the tree holds nothing but
names, integers and strings.  The grader rebuilds the expression from the tree with its
own symbols (:func:`autograder.symbolic.decode`).
"""
import sympy

#: Node classes written with their arguments, by name.
OPERATIONS = {cls.__name__: cls for cls in (sympy.Add, sympy.Mul, sympy.Pow, sympy.exp, sympy.log,
                                            sympy.Abs, sympy.Max, sympy.Min)}


class NotAnExpression(TypeError):
    """The value holds something other than plain sympy numbers, symbols and operations."""


def encode(value):
    """The JSON-able tree of a sympy expression or matrix (raises :class:`NotAnExpression`)."""
    if isinstance(value, sympy.MatrixBase):
        if type(value) not in (sympy.ImmutableDenseMatrix, sympy.MutableDenseMatrix):
            raise NotAnExpression(f"matrix of type {type(value).__name__}")
        rows, columns = value.shape
        return ["Matrix", rows, columns, [encode(value[i, j]) for i in range(rows) for j in range(columns)]]
    kind = type(value)
    if kind is sympy.Symbol:
        return ["Symbol", value.name]
    if kind in (sympy.Integer, sympy.core.numbers.Zero, sympy.core.numbers.One, sympy.core.numbers.NegativeOne):
        return ["Integer", str(int(value))]
    if kind in (sympy.Rational, sympy.core.numbers.Half):
        return ["Rational", str(value.p), str(value.q)]
    if kind is sympy.Float:
        return ["Float", str(value)]
    if kind.__name__ in OPERATIONS and OPERATIONS[kind.__name__] is kind:
        return [kind.__name__] + [encode(argument) for argument in value.args]
    raise NotAnExpression(f"a sympy expression in the sheet's symbols (found a {kind.__name__})")
