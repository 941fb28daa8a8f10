"""CEL, the expression language of CONDITIONAL_BRANCH blocks, over {context, actions, variables}.

`variables["github-owner"] == ""`, `actions.form.outputs.env == "prod"`,
`size(variables.items) > 0`. JSON values become CEL values as cel-python maps
them: whole numbers are `int`, others `double`, null is `null`, objects are maps. Arithmetic that mixes
an int and a double is done in double (`79 / 2.0`, `79.5 / 2`). The string
methods of cel-go's strings extension (`"A-b".lowerAscii()`, `s.split("-")`,
`list.join(",")`…) are here too, as descriptors written for Cortex may use them.

Comparisons follow the CEL spec's heterogeneous equality and cross-type numeric
comparison, which cel-python 0.5 lacks: `1 == 1.0` and `n > 79.5` compare
numbers by value whatever mix of int, uint and double a JSON body gives; `==`
and `in` between values of different types (`x == null` for a number, `n ==
""`) are false, not errors. Ordering values that are not comparable (`"a" < 1`)
is still an error.

An evaluation is stopped after TIMEOUT_SECONDS and fails the step ("CEL
expression ran longer than 5 s; stopped"): nested macros over lists of the run
state can run for minutes. celpy walks the parse tree in Python, so the
evaluator reads the clock at every node it visits, about 3% (10 µs) of a
typical 0.3 ms evaluation; a child process would add a round trip and a JSON
copy of the run state (0.17 ms and more), sys.settrace doubled the time.
Memory is bounded through size: `+`, join() and replace() refuse to make a
string or list longer than MAX_SIZE, the only ways to grow one fast.

Errors read as CEL's (cel-go's where it has one), never naming Python classes:
"no such key: env", "index out of range: -1" (no negative indexes),
"no '[]' for string and int values" (strings are not indexed), "no '+' for int
and string values", "no such overload: size(int)", "cannot iterate over an
int", "cannot convert 'abc' to int", "integer overflow", "division by zero".
An int literal out of range or a bad escape in a string literal is a syntax
error with its line and column, as in cel-go. The macros follow the spec:
map/filter/all/exists/exists_one over a list or a map's keys, a condition must
be a bool, `all` and `exists` let a deciding value win over an error (as `&&`
and `||` do), and `map(x, condition, value)` is there.
"""

from __future__ import annotations

import logging
import math
import operator
import re
import threading
import time
from functools import lru_cache

import celpy
import re2
from celpy import celtypes, evaluation
from celpy.evaluation import CELEvalError

from workflows.paths import show

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0  # one expression's evaluation; the step fails past it
# The longest string or list `+`, join() and replace() make: doubling a string
# 30 times asks for gigabytes well within the time limit.
MAX_SIZE = 1_000_000


def _too_big(size: int) -> CELEvalError | None:
    if size > MAX_SIZE:
        return CELEvalError(
            f"the result would be longer than {MAX_SIZE:,} characters or items"
        )
    return None


_clock = time.monotonic


class CelCompileError(ValueError):
    pass


class CelTimedOut(Exception):
    """The evaluation ran past its deadline (raised through celpy, caught in evaluate_cel)."""


# --- the evaluator: a deadline, CEL's macros, CEL's messages --------------------------

# macro name -> the numbers of arguments it takes (celpy adds reduce and min)
_MACROS = {
    "map": (2, 3),
    "filter": (2,),
    "all": (2,),
    "exists": (2,),
    "exists_one": (2,),
    "reduce": (4,),
    "min": (0,),
}
# conversion functions: a value they can't convert is "cannot convert 'x' to int"
_CONVERSIONS = {
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "timestamp",
    "duration",
}


class _Evaluator(evaluation.Evaluator):
    """celpy's tree-walking evaluator with a deadline, CEL's semantics where
    celpy differs, and errors that read as CEL's.

    The clock is checked at every node visited (visit, visit_children): every
    loop in an evaluation, a macro's every item included, goes through them.
    """

    def __init__(self, ast, activation, deadline: float) -> None:
        super().__init__(ast, activation)
        self.deadline = deadline

    def sub_evaluator(self, ast):
        return _Evaluator(ast, self.activation, self.deadline)

    def visit(self, tree):
        if _clock() > self.deadline:
            raise CelTimedOut
        return super().visit(tree)

    def visit_children(self, tree):
        if _clock() > self.deadline:
            raise CelTimedOut
        return super().visit_children(tree)

    def primary(self, tree):
        kind = tree.children[0]
        if kind.data == "ident_arg" and kind.children[0].value in ("has", "dyn"):
            given = kind.children[1].children if len(kind.children) == 2 else []
            if len(given) != 1:  # celpy raised IndexError
                return CELEvalError(
                    f"wrong number of arguments to {kind.children[0].value}()"
                )
        value = super().primary(tree)
        if (
            isinstance(value, CELEvalError)
            and kind.data in ("dot_ident", "dot_ident_arg")
            and value.args[1:2] == (KeyError,)
        ):  # `.x`: celpy's message was just "x"
            return CELEvalError(f"undeclared reference to '{kind.children[0]}'")
        return value

    def member_dot(self, tree):
        member_tree, name_token = tree.children
        member = self.visit(member_tree)
        name = name_token.value
        if isinstance(member, CELEvalError):
            return member
        if isinstance(member, evaluation.NameContainer):
            if name in member:
                return member[name].value
            return CELEvalError(f"undeclared reference to '{name}'")
        if isinstance(member, celtypes.MessageType):
            return member.get(name)
        if isinstance(member, celtypes.MapType):
            return _lookup(member, name)
        return CELEvalError(f"{_type_of(member)} does not support field selection")

    def mapinits(self, tree):
        """A map literal; an error in a key or a value is the map's (as in cel-go)."""
        values = self.visit_children(tree)
        result = celtypes.MapType()
        for key, value in zip(values[0::2], values[1::2], strict=True):
            for item in (key, value):
                if isinstance(item, CELEvalError):
                    return item
            if not isinstance(key, _KEY_TYPES):
                return CELEvalError(
                    f"a map key must be an int, uint, bool or string, not {_a(_type_of(key))}"
                )
            if _find_key(result, key) is not _MISSING:
                return CELEvalError(f"repeated key in a map: {_key_text(key)}")
            result[key] = value
        return result

    def function_eval(self, name_token, exprlist=None):
        args = list(exprlist or [])
        name = name_token.value
        if name in _CONVERSIONS and not any(isinstance(a, CELEvalError) for a in args):
            if len(args) != 1 or (
                name == "string"  # celpy gave "ListType([IntType(1)])", "None"
                and (args[0] is None or isinstance(args[0], list | dict | type))
            ):
                return _no_such_overload(name, args)
            if name == "string" and isinstance(args[0], celtypes.BoolType):
                return celtypes.StringType("true" if args[0] else "false")
        result = super().function_eval(name_token, args)
        return _call_error(result, name_token, name, args)

    def method_eval(self, object, method_ident, exprlist=None):
        args = [object, *exprlist] if isinstance(exprlist, list) else [object]
        try:
            result = super().method_eval(object, method_ident, exprlist)
        except AssertionError:  # celpy's duration.getHours("UTC")
            return _no_such_overload(method_ident.value, args, method=True)
        return _call_error(result, method_ident, method_ident.value, args, method=True)

    def member_dot_arg(self, tree):
        """The macros as CEL defines them: over a list or a map's keys, errors
        kept (all/exists absorb them as `&&`/`||` do), a condition must be a bool."""
        name = tree.children[1].value
        if name not in _MACROS:
            return super().member_dot_arg(tree)
        args = tree.children[2].children if len(tree.children) > 2 else []
        if len(args) not in _MACROS[name]:
            return CELEvalError(f"wrong number of arguments to {name}()")
        items = self.visit(tree.children[0])
        if isinstance(items, CELEvalError):
            return items
        if not isinstance(items, celtypes.ListType | celtypes.MapType):
            return CELEvalError(f"cannot iterate over {_a(_type_of(items))}")
        items = list(items)  # a map's keys
        if name == "min":
            return _min(items)
        if name == "reduce":
            return self._reduce(items, args)
        variable = _variable_name(args[0])
        if variable is None:
            return CELEvalError(
                f"the first argument of {name}() must be a variable name"
            )
        body = self._bound(args[-1], variable)
        if name == "map":
            keep = self._bound(args[1], variable) if len(args) == 3 else None
            results = []
            for item in items:
                if keep is not None:
                    kept = _condition(name, keep(item))
                    if isinstance(kept, CELEvalError):
                        return kept
                    if not kept:
                        continue
                value = body(item)
                if isinstance(value, CELEvalError):
                    return value
                results.append(value)
            return celtypes.ListType(results)
        if name == "filter":
            results = []
            for item in items:
                kept = _condition(name, body(item))
                if isinstance(kept, CELEvalError):
                    return kept
                if kept:
                    results.append(item)
            return celtypes.ListType(results)
        if name == "exists_one":
            count = 0
            for item in items:
                value = _condition(name, body(item))
                if isinstance(value, CELEvalError):
                    return value
                count += bool(value)
            return celtypes.BoolType(count == 1)
        # all / exists: the deciding value wins over errors, as with && and ||
        decisive = name == "exists"
        error = None
        for item in items:
            value = _condition(name, body(item))
            if isinstance(value, CELEvalError):
                error = error or value
            elif bool(value) is decisive:
                return celtypes.BoolType(decisive)
        return error or celtypes.BoolType(not decisive)

    def _bound(self, tree, *names):
        """A function of values for `names` that evaluates `tree` with them bound."""
        nested = self.sub_evaluator(tree)

        def evaluate(*values):
            nested.set_activation(dict(zip(names, values, strict=True)))
            return nested.visit(tree)

        return evaluate

    def _reduce(self, items, args):
        accumulator, variable = _variable_name(args[0]), _variable_name(args[1])
        if accumulator is None or variable is None:
            return CELEvalError(
                "the first two arguments of reduce() must be variable names"
            )
        step = self._bound(args[3], accumulator, variable)
        value = self.visit(args[2])
        for item in items:
            if isinstance(value, CELEvalError):
                break
            value = step(value, item)
        return value


def _variable_name(tree) -> str | None:
    """The name if the expression `tree` is a bare identifier (a macro's variable)."""
    node = tree
    while node.data != "ident" and len(node.children) == 1:
        node = node.children[0]
        if not hasattr(node, "data"):
            return None
    return node.children[0].value if node.data == "ident" else None


def _condition(name: str, value):
    """A macro condition's value, or the error saying it is not a bool."""
    if isinstance(value, celtypes.BoolType | bool | CELEvalError):
        return value
    return CELEvalError(
        f"the condition in {name}() must be true or false, not {_a(_type_of(value))}"
    )


def _min(items: list):
    if not items:
        return CELEvalError("min() of an empty list")
    least = items[0]
    for item in items[1:]:
        less = _FUNCTIONS["_<_"](item, least)
        if isinstance(less, CELEvalError):
            return less
        if less:
            least = item
    return least


def _call_error(result, token, name: str, args: list, method: bool = False):
    """celpy's "no such overload" and "return error for overflow" for a function
    call, said as CEL would: what was called with what, or what can't be converted."""
    if not isinstance(result, CELEvalError) or result.token is not token:
        return result
    cause = result.args[1] if len(result.args) > 1 else None
    if not isinstance(cause, type):
        return result
    if issubclass(cause, TypeError | AttributeError) or (
        name in _CONVERSIONS and len(args) != 1
    ):
        return _no_such_overload(name, args, method)
    if issubclass(cause, ValueError | OverflowError):  # pendulum's ParserError too
        if name in _CONVERSIONS and len(args) == 1:
            return CELEvalError(f"cannot convert {shown(args[0])} to {name}")
        return CELEvalError(f"invalid argument to {name}()")
    return result


def _no_such_overload(name: str, args: list, method: bool = False):
    if method and args:
        receiver, args = f"{_type_of(args[0])}.", args[1:]
    else:
        receiver = ""
    types = ", ".join(_type_of(a) for a in args)
    return CELEvalError(f"no such overload: {receiver}{name}({types})")


class _Runner(celpy.InterpretedRunner):
    def evaluate(self, context):
        deadline = _clock() + TIMEOUT_SECONDS
        return _Evaluator(self.ast, self.new_activation(), deadline).evaluate(context)


_env = celpy.Environment(runner_class=_Runner)
_env_lock = threading.Lock()  # the Lark parser behind compile() is shared


@lru_cache(maxsize=512)
def compile_cel(expression: str) -> celpy.Runner:
    """The CEL program for an expression; raises CelCompileError("… (line 1, column 4)")."""
    try:
        with _env_lock:
            ast = _env.compile(expression)
    except celpy.CELParseError as exc:
        raise CelCompileError(f"syntax error{_where(exc)}") from None
    except RecursionError:
        raise CelCompileError("the expression is nested too deeply") from None
    except Exception as exc:  # anything else Lark or celpy may raise on odd input
        raise CelCompileError(f"syntax error{_where(exc)}") from None
    if _depth(ast) > MAX_DEPTH:
        raise CelCompileError(
            "the expression is nested too deeply to evaluate (more than about 30"
            " parentheses or lists inside each other, or 140 terms chained by one"
            " operator)"
        )
    _check_literals(ast)
    return _env.program(ast, functions=_FUNCTIONS)


# The evaluator walks the parse tree recursively, two or three Python frames a
# level: past about 450 levels (40 nested parentheses, a chain of 220 `+`)
# it fails with RecursionError. An expression deeper than this is refused when
# compiled, so at save, not in the middle of a run:
MAX_DEPTH = 300


def _depth(tree) -> int:
    """How many levels the parse tree has (counted without recursion)."""
    deepest, todo = 0, [(tree, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        todo += [(c, depth + 1) for c in node.children if hasattr(c, "children")]
    return deepest


def _where(exc: Exception) -> str:
    line, column = getattr(exc, "line", None), getattr(exc, "column", None)
    return f" (line {line}, column {column})" if line else ""


_LITERALS = {
    "INT_LIT": ("int", lambda text: celtypes.IntType(text)),
    "UINT_LIT": ("uint", lambda text: celtypes.UintType(text[:-1])),
}


def _check_literals(ast) -> None:
    """celpy converts literals when it evaluates them, so `99999999999999999999`
    or "\\U00110000" failed at run time ("overflow"); in CEL they are syntax errors."""
    for node in ast.iter_subtrees():
        if node.data != "literal":
            continue
        token = node.children[0]
        try:
            if token.type in _LITERALS:
                kind, convert = _LITERALS[token.type]
                problem = f"the {kind} literal {token.value} is out of range"
                convert(token.value)
            elif token.type in ("STRING_LIT", "MLSTRING_LIT"):
                problem = "invalid escape sequence in a string literal"
                evaluation.celstr(token)
            elif token.type == "BYTES_LIT":
                problem = "invalid escape sequence in a bytes literal"
                evaluation.celbytes(token)
        except (ValueError, OverflowError):
            raise CelCompileError(
                f"syntax error (line {token.line}, column {token.column}): {problem}"
            ) from None


# --- CEL's names for values, for messages ----------------------------------------------

_TYPE_NAMES = (
    (celtypes.BoolType, "bool"),
    (bool, "bool"),
    (celtypes.UintType, "uint"),
    (int, "int"),
    (float, "double"),
    (str, "string"),
    (bytes, "bytes"),
    (list, "list"),
    (dict, "map"),
    (celtypes.TimestampType, "timestamp"),
    (celtypes.DurationType, "duration"),
    (type, "type"),
)


def _type_of(value: object) -> str:
    """CEL's name for a value's type: int, string, map, null…"""
    if value is None:
        return "null"
    for kind, name in _TYPE_NAMES:
        if isinstance(value, kind):
            return name
    return "function" if callable(value) else "value"


def _a(type_name: str) -> str:
    if type_name == "null":
        return "null"
    return f"{'an' if type_name[0] in 'aeiou' else 'a'} {type_name}"


def shown(value: object) -> str:
    """A value for a message: 'text', 12, [1,2], the type int."""
    if isinstance(value, type):
        kinds = (name for kind, name in _TYPE_NAMES if issubclass(value, kind))
        return f"the type {next(kinds, 'null_type')}"
    if callable(value):
        return "a function"
    if isinstance(value, bytes):
        return repr(bytes(value))
    return show(_plain(value))


# --- map keys and indexes --------------------------------------------------------------

_KEY_TYPES = (
    celtypes.BoolType,
    celtypes.IntType,
    celtypes.UintType,
    celtypes.StringType,
)
_MISSING = object()


def _find_key(mapping: dict, key):
    """The key of `mapping` equal to `key` as CEL compares (1 == 1u == 1.0, a
    bool only equals a bool), else _MISSING. String keys, all a JSON object
    has, are found by hash."""
    if isinstance(key, str):
        try:
            return key if dict.__contains__(mapping, key) else _MISSING
        except TypeError:  # a hash collision with a number key, whose == raises
            pass
    for stored in mapping:
        if _equal(stored, key):
            return stored
    return _MISSING


def _key_text(key) -> str:
    """A key as cel-go shows it in "no such key: env"."""
    return str(key) if isinstance(key, str) else show(_plain(key))


def _lookup(mapping: dict, key):
    """mapping[key], or the error: no such key."""
    if not isinstance(key, str | int | float):  # a list, a map, null…
        return _no_overload("[]", mapping, key)
    stored = _find_key(mapping, key)
    if stored is _MISSING:
        return CELEvalError(f"no such key: {_key_text(key)}")
    return mapping[stored]


def _no_overload(symbol: str, *args) -> CELEvalError:
    """An operator's error for types it does not take: "no '+' for int and string values"."""
    types = " and ".join(_type_of(a) for a in args)
    return CELEvalError(f"no '{symbol}' for {types} values")


def _operator(symbol: str, function):
    """An operator whose errors are CEL's: an operand's error is the result, and
    Python's TypeError, overflow and ZeroDivisionError become CEL's messages."""

    def apply(*args):
        for arg in args:
            if isinstance(arg, CELEvalError):
                return arg
        try:
            return function(*args)
        except TypeError:
            return _no_overload(symbol, *args)
        except ZeroDivisionError:
            return CELEvalError(
                "modulus by zero" if symbol == "%" else "division by zero"
            )
        except (ValueError, OverflowError):
            if any(isinstance(a, celtypes.UintType) for a in args):
                return CELEvalError("unsigned integer overflow")
            if any(
                isinstance(a, celtypes.TimestampType | celtypes.DurationType)
                for a in args
            ):
                return CELEvalError("timestamp or duration out of range")
            return CELEvalError("integer overflow")

    return apply


# --- the CEL spec's equality and numeric comparisons ---------------------------------


def _number(value: object) -> int | float | None:
    """The plain number of a CEL int, uint or double (not a bool), else None.
    Plain Python numbers count too: celpy's double arithmetic returns them."""
    if isinstance(value, bool | celtypes.BoolType):
        return None
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    return None


def _equal(a: object, b: object) -> bool:
    """CEL `==`: numbers by value, lists and maps member by member, other mixes false."""
    x, y = _number(a), _number(b)
    if x is not None or y is not None:
        return x is not None and y is not None and x == y
    if isinstance(a, celtypes.ListType) and isinstance(b, celtypes.ListType):
        return len(a) == len(b) and all(map(_equal, a, b))
    if isinstance(a, celtypes.MapType) and isinstance(b, celtypes.MapType):
        return len(a) == len(b) and all(
            key in b and _equal(a[key], b[key]) for key in a
        )
    if a is None or b is None:
        return a is None and b is None
    if type(a) is not type(b) and not (
        isinstance(a, type(b)) or isinstance(b, type(a))
    ):
        return False
    try:
        return bool(a == b)
    except TypeError:
        return False


def _eq(a, b):
    return celtypes.BoolType(_equal(a, b))


def _ne(a, b):
    return celtypes.BoolType(not _equal(a, b))


def _in(item, container):
    """`in`: a member of a list (CEL equality) or a key of a map; a value of
    another type is not in it (no error), as for `==`."""
    if isinstance(container, celtypes.ListType):
        return celtypes.BoolType(any(_equal(item, member) for member in container))
    if isinstance(container, celtypes.MapType):
        return celtypes.BoolType(
            isinstance(item, str | int | float)
            and _find_key(container, item) is not _MISSING
        )
    raise TypeError  # cel-go has no `in` for strings: "abc".contains("a")


def _ordering(name: str, compare):
    base = evaluation.base_functions[name]

    def order(a, b):
        x, y = _number(a), _number(b)
        if x is not None and y is not None:
            return celtypes.BoolType(compare(x, y))
        return base(a, b)

    return order


def _arithmetic(name: str):
    """CEL arithmetic, an int mixed with a double computed in double.

    The spec has no mixed arithmetic, but whether a JSON number arrives as an
    int or a double depends on how it was written (79 or 79.5): without this,
    `variables.coverage / 2` worked for one value and failed for the other.
    """
    base = evaluation.base_functions[name]

    def compute(a, b):
        if isinstance(a, celtypes.BoolType) or isinstance(b, celtypes.BoolType):
            raise TypeError  # Python's True + True is 2
        same = isinstance(a, str | bytes | list) and type(a) is type(b)
        if same and (error := _too_big(len(a) + len(b))):
            return error
        x, y = _number(a), _number(b)
        if x is not None and y is not None and float in (type(x), type(y)):
            a, b = celtypes.DoubleType(x), celtypes.DoubleType(y)
        result = base(a, b)
        # celpy's double arithmetic returns a Python float, string + string a
        # Python str and list + list a Python list: keep them CEL values
        kind = _CEL_TYPE_OF.get(type(result))
        return kind(result) if kind else result

    return compute


_CEL_TYPE_OF = {
    float: celtypes.DoubleType,
    str: celtypes.StringType,
    bytes: celtypes.BytesType,
    list: celtypes.ListType,
}


def _index(container, key):
    """`a[b]`: a list by an int index from 0 (no negative ones), a map by key;
    not a string (celpy allowed "abc"[0] and [1, 2][-1], CEL does not)."""
    if isinstance(container, celtypes.ListType):
        if not isinstance(key, int) or isinstance(key, celtypes.BoolType):
            raise TypeError
        if not 0 <= key < len(container):
            return CELEvalError(f"index out of range: {int(key)}")
        return container[key]
    if isinstance(container, celtypes.MapType):
        return _lookup(container, key)
    raise TypeError


def _and(a, b):
    """`&&`: false if either side is false, even an error on the other (CEL's
    commutative short circuit); else an error if either is one."""
    return _logical("&&", a, b, decisive=False)


def _or(a, b):
    return _logical("||", a, b, decisive=True)


def _logical(symbol: str, a, b, decisive: bool):
    for value in (a, b):
        if isinstance(value, celtypes.BoolType | bool) and bool(value) is decisive:
            return celtypes.BoolType(decisive)
    for value in (a, b):
        if isinstance(value, CELEvalError):
            return value
    if all(isinstance(v, celtypes.BoolType | bool) for v in (a, b)):
        return celtypes.BoolType(not decisive)
    return _no_overload(symbol, a, b)


def _conditional(condition, if_true, if_false):
    """`c ? a : b` (celpy evaluates only the side taken)."""
    if isinstance(condition, CELEvalError):
        return condition
    if not isinstance(condition, celtypes.BoolType | bool):
        return CELEvalError(
            f"the condition before '?' must be true or false, not {_a(_type_of(condition))}"
        )
    return if_true if condition else if_false


@lru_cache(maxsize=256)
def _regex(pattern: str):
    options = re2.Options()
    options.log_errors = False  # re2 printed every bad pattern to stderr
    return re2.compile(pattern, options)


def _matches(text, pattern):
    """`s.matches(re)`: RE2 syntax, as in cel-go; a bad pattern says why."""
    if not isinstance(text, str) or not isinstance(pattern, str):
        raise TypeError
    try:
        regex = _regex(str(pattern))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        return CELEvalError(
            f"invalid regular expression {show(str(pattern))}: {reason}"
        )
    return celtypes.BoolType(regex.search(str(text)) is not None)


# --- cel-go's strings extension (ext.Strings): lowerAscii, split, join… --------------


def _strings_ext(name: str, *types: type, result=celtypes.StringType):
    """A string method of cel-go's extension: arguments checked against `types`
    (optional ones after the required), errors as CEL errors naming the method."""

    def decorate(impl):
        def method(*args):
            if len(args) > len(types) or not all(
                isinstance(a, t) for a, t in zip(args, types, strict=False)
            ):
                return celpy.CELEvalError(
                    f"no such overload: {name} with these arguments"
                )
            try:
                value = impl(*args)
            except (IndexError, ValueError) as exc:
                return celpy.CELEvalError(f"{name}: {exc}")
            return result(value)

        return method

    return decorate


_S, _I = celtypes.StringType, celtypes.IntType


def _index_in(text: str, index: int) -> int:
    if not 0 <= index <= len(text):
        raise IndexError(f"index {index} is out of range for a string of {len(text)}")
    return int(index)


@_strings_ext("charAt", _S, _I)
def _char_at(text, index):
    index = _index_in(text, index)
    return text[index : index + 1]


@_strings_ext("indexOf", _S, _S, _I, result=_I)
def _index_of(text, sub, offset=0):
    return text.find(sub, _index_in(text, offset))


@_strings_ext("lastIndexOf", _S, _S, _I, result=_I)
def _last_index_of(text, sub, offset=None):
    end = len(text) if offset is None else _index_in(text, offset)
    return text.rfind(sub, 0, end + len(sub))


@_strings_ext("lowerAscii", _S)
def _lower_ascii(text):
    return "".join(c.lower() if c.isascii() else c for c in text)


@_strings_ext("upperAscii", _S)
def _upper_ascii(text):
    return "".join(c.upper() if c.isascii() else c for c in text)


@_strings_ext("replace", _S, _S, _S, _I)
def _replace(text, old, new, count=-1):
    times = text.count(old) if count < 0 else min(int(count), text.count(old))
    if _too_big(len(text) + times * (len(new) - len(old))):
        raise ValueError(f"the result would be longer than {MAX_SIZE:,} characters")
    return text.replace(old, new, int(count))


@_strings_ext("split", _S, _S, _I, result=celtypes.ListType)
def _split(text, separator, limit=-1):
    if limit == 0:
        parts = []
    elif separator == "":
        parts = list(text) if limit < 0 else [*text[: limit - 1], text[limit - 1 :]]
    else:
        parts = text.split(separator, int(limit) - 1 if limit > 0 else -1)
    return celtypes.ListType([_S(p) for p in parts])


@_strings_ext("substring", _S, _I, _I)
def _substring(text, start, end=None):
    start = _index_in(text, start)
    end = len(text) if end is None else _index_in(text, end)
    if end < start:
        raise ValueError(f"the end {end} comes before the start {start}")
    return text[start:end]


@_strings_ext("trim", _S)
def _trim(text):
    return text.strip()


_NO_SEPARATOR = _S("")


def _join(items, separator=_NO_SEPARATOR):
    if not isinstance(items, celtypes.ListType) or not isinstance(separator, _S):
        return celpy.CELEvalError("no such overload: join with these arguments")
    if not all(isinstance(i, _S) for i in items):
        return celpy.CELEvalError("join: the list holds values that are not strings")
    size = sum(map(len, items)) + len(separator) * max(len(items) - 1, 0)
    return _too_big(size) or _S(separator.join(items))


_FUNCTIONS = {
    "charAt": _char_at,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "lowerAscii": _lower_ascii,
    "upperAscii": _upper_ascii,
    "replace": _replace,
    "split": _split,
    "substring": _substring,
    "trim": _trim,
    "join": _join,
    "matches": _matches,
    # Operators: never a Python exception, always CEL's message.
    "_+_": _operator("+", _arithmetic("_+_")),
    "_-_": _operator("-", _arithmetic("_-_")),
    "_*_": _operator("*", _arithmetic("_*_")),
    "_/_": _operator("/", _arithmetic("_/_")),
    "_%_": _operator("%", _arithmetic("_%_")),
    "-_": _operator("-", evaluation.base_functions["-_"]),
    "!_": _operator("!", evaluation.base_functions["!_"]),
    "_[_]": _operator("[]", _index),
    "_==_": _operator("==", _eq),
    "_!=_": _operator("!=", _ne),
    "_in_": _operator("in", _in),
    "_<_": _operator("<", _ordering("_<_", operator.lt)),
    "_<=_": _operator("<=", _ordering("_<=_", operator.le)),
    "_>_": _operator(">", _ordering("_>_", operator.gt)),
    "_>=_": _operator(">=", _ordering("_>=_", operator.ge)),
    "_&&_": _and,
    "_||_": _or,
    "_?_:_": _conditional,
}


def evaluate_cel(program: celpy.Runner, activation: dict) -> object:
    """Evaluate; raises ValueError with a readable message when CEL reports an
    error or the evaluation runs past TIMEOUT_SECONDS."""
    try:
        result = program.evaluate(activation)
    except CelTimedOut:
        raise ValueError(
            f"CEL expression ran longer than {TIMEOUT_SECONDS:g} s; stopped"
        ) from None
    except celpy.CELEvalError as exc:
        raise ValueError(_eval_message(exc)) from None
    except RecursionError:
        raise ValueError("the expression is nested too deeply") from None
    except Exception:  # a celpy path not covered above: its text is Python's
        log.exception("CEL evaluation failed unexpectedly")
        raise ValueError(_UNEXPECTED) from None
    if isinstance(result, celpy.CELEvalError):
        raise ValueError(_eval_message(result))
    return result


def cel_activation(state: dict) -> dict:
    """{context, actions, variables} as CEL values, converted only where an expression reads."""
    return {
        key: _to_cel(state.get(key) or {})
        for key in ("context", "actions", "variables")
    }


class _MapTypeForCel(type):
    """Makes CEL's `type(m) == map` hold for _LazyMap (celpy's type() is Python's type())."""

    def __eq__(cls, other):
        return other is celtypes.MapType or type.__eq__(cls, other) is True

    __hash__ = type.__hash__


class _LazyMap(celtypes.MapType, metaclass=_MapTypeForCel):
    """A JSON object whose values become CEL values when first read.

    A branch usually reads a few fields of a run state that can hold large HTTP
    bodies; converting all of it up front cost ~50 ms for 86 KB.
    """

    def __init__(self, raw: dict):
        super().__init__()
        dict.update(self, {celtypes.StringType(k): v for k, v in raw.items()})

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if type(value) in _RAW:
            value = _to_cel(value)
            dict.__setitem__(self, key, value)
        return value

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def values(self):
        return [self[k] for k in self]

    def items(self):
        return [(k, self[k]) for k in self]


_RAW = (str, int, float, bool, dict, list)


def _to_cel(value):
    kind = type(value)
    if kind is dict:
        return _LazyMap(value)
    if kind is list:
        return celtypes.ListType([_to_cel(v) for v in value])
    if kind is str:
        return celtypes.StringType(value)
    if value is None:
        return None
    if kind is int and not -(2**63) <= value < 2**63:
        # Past CEL's int (64 bits): a double, as JSON numbers are in CEL (an
        # infinity past a double's range).
        try:
            return celtypes.DoubleType(float(value))
        except OverflowError:
            return celtypes.DoubleType(math.inf if value > 0 else -math.inf)
    return celpy.json_to_cel(value)  # bool, int, float, datetime…


_UNEXPECTED = "CEL could not evaluate the expression (the worker's log has the details)"
# What celpy's own texts look like when they describe Python objects
_PYTHON_TEXT = re.compile(
    r"<class '|CELEvalError|\b(?:Tree|Token)\(|"
    r"\b(?:Int|Uint|Double|String|Bytes|Bool|List|Map|Timestamp|Duration|Message)Type\("
)


def _eval_message(exc: Exception) -> str:
    message = str(exc.args[0]) if exc.args else str(exc)
    # "undeclared reference to 'x' (in activation '…')" dumps the whole run state
    message = message.split(" (in activation ", 1)[0]
    if _PYTHON_TEXT.search(message):  # not one of CEL's messages: don't show it
        # (not the text itself: it may quote values of the run state)
        log.warning("CEL error not translated, from %s", exc.args[1:2])
        return _UNEXPECTED
    return message


def _plain(value: object) -> object:
    """A CEL value as plain JSON-ish Python, for messages."""
    if isinstance(value, celtypes.MapType):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType):
        return [_plain(v) for v in value]
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    return value if value is None else str(value)
