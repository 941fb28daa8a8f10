"""CONDITIONAL_BRANCH: CEL expressions over {context, actions, variables}, first true wins.

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

Every expression is compiled before any is evaluated, so a typo in a later
branch fails the step even when an earlier branch would be taken. The first
branch whose expression is true is taken; with none, the fallback branch if
there is one, else nothing (the engine goes straight to the joining action).
An expression that fails to evaluate or is not a boolean fails the step.
Compiled programs are cached by expression text.
"""

from __future__ import annotations

import operator
import re
import threading
from functools import lru_cache

import celpy
from celpy import celtypes, evaluation

from workflows.paths import show

from .base import Block, BlockContext, Outcome

_env = celpy.Environment()
_env_lock = threading.Lock()  # the Lark parser behind compile() is shared


class CelCompileError(ValueError):
    pass


@lru_cache(maxsize=512)
def compile_cel(expression: str) -> celpy.Runner:
    """The CEL program for an expression; raises CelCompileError("… (line 1, column 4)")."""
    try:
        with _env_lock:
            return _env.program(_env.compile(expression), functions=_FUNCTIONS)
    except celpy.CELParseError as exc:
        line, column = getattr(exc, "line", None), getattr(exc, "column", None)
        where = f" (line {line}, column {column})" if line else ""
        raise CelCompileError(f"syntax error{where}") from None
    except RecursionError:
        raise CelCompileError("the expression is nested too deeply") from None
    except Exception as exc:  # anything else Lark or celpy may raise on odd input
        raise CelCompileError(str(exc) or exc.__class__.__name__) from None


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
    if isinstance(a, celpy.CELEvalError):
        return a
    if isinstance(b, celpy.CELEvalError):
        return b
    return celtypes.BoolType(_equal(a, b))


def _ne(a, b):
    result = _eq(a, b)
    return (
        result
        if isinstance(result, celpy.CELEvalError)
        else celtypes.BoolType(not result)
    )


def _in(item, container):
    if isinstance(item, celpy.CELEvalError):
        return item
    if isinstance(container, celtypes.ListType):
        return celtypes.BoolType(any(_equal(item, member) for member in container))
    return evaluation.operator_in(item, container)


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
        x, y = _number(a), _number(b)
        if x is not None and y is not None and float in (type(x), type(y)):
            a, b = celtypes.DoubleType(x), celtypes.DoubleType(y)
        result = base(a, b)
        # celpy's double arithmetic returns a Python float: keep it a CEL double
        return celtypes.DoubleType(result) if type(result) is float else result

    return compute


def _index(container, key):
    """`a[b]`; an error inside a or b is the error (celpy reported the index
    operator as having no overload for an error value, hiding the cause)."""
    for value in (container, key):
        if isinstance(value, celpy.CELEvalError):
            return value
    return evaluation.base_functions["_[_]"](container, key)


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
    return _S(separator.join(items))


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
    "_+_": _arithmetic("_+_"),
    "_-_": _arithmetic("_-_"),
    "_*_": _arithmetic("_*_"),
    "_/_": _arithmetic("_/_"),
    "_[_]": _index,
    "_==_": _eq,
    "_!=_": _ne,
    "_in_": _in,
    "_<_": _ordering("_<_", operator.lt),
    "_<=_": _ordering("_<=_", operator.le),
    "_>_": _ordering("_>_", operator.gt),
    "_>=_": _ordering("_>=_", operator.ge),
}


def evaluate_cel(program: celpy.Runner, activation: dict) -> object:
    """Evaluate; raises ValueError with a readable message when CEL reports an error."""
    try:
        result = program.evaluate(activation)
    except celpy.CELEvalError as exc:
        raise ValueError(_eval_message(exc)) from None
    except RecursionError:
        raise ValueError("the expression is nested too deeply") from None
    except Exception as exc:  # celpy lets some Python errors through
        raise ValueError(str(exc) or exc.__class__.__name__) from None
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
    return celpy.json_to_cel(value)  # bool, int, float, datetime…


_OPERATORS = {
    "relation_eq": "==",
    "relation_ne": "!=",
    "relation_lt": "<",
    "relation_le": "<=",
    "relation_gt": ">",
    "relation_ge": ">=",
    "relation_in": "in",
    "addition_add": "+",
    "addition_sub": "-",
    "multiplication_mul": "*",
    "multiplication_div": "/",
    "multiplication_mod": "%",
    "unary_neg": "-",
    "unary_not": "!",
}
_OVERLOAD = re.compile(
    r"found no matching overload for Token\('RULE', '(\w+)'\) applied to '\((.*)\)'"
)
_TYPE_NAME = re.compile(r"<class '(?:[\w.]+\.)?(\w+?)(?:Type)?'>")


def _eval_message(exc: Exception) -> str:
    message = str(exc.args[0]) if exc.args else str(exc)
    # "undeclared reference to 'x' (in activation '…')" dumps the whole run state
    message = message.split(" (in activation ", 1)[0]
    message = message.replace("None with type: '<class 'NoneType'>'", "null")
    match = _OVERLOAD.search(message)
    if match:
        operator = _OPERATORS.get(match[1], match[1])
        types = [
            name.lower().replace("none", "null")
            for name in _TYPE_NAME.findall(match[2])
        ]
        return f"no '{operator}' for {' and '.join(types)} values"
    return message


class ConditionalBranch(Block):
    type = "CONDITIONAL_BRANCH"
    side_effects = False

    def execute(self, ctx: BlockContext) -> Outcome:
        schema = ctx.schema
        branches = schema.get("branches")
        fallback = schema.get("fallbackBranch") or None
        inputs = {
            "branches": [
                {"slug": b.get("slug"), "expression": b.get("expression")}
                for b in branches or []
                if isinstance(b, dict)
            ]
        }
        if not isinstance(branches, list) or not all(
            isinstance(b, dict) for b in branches
        ):
            return Outcome.failed(
                "CONDITIONAL_BRANCH needs a list of branches", inputs=inputs
            )
        if fallback is not None and not isinstance(fallback, dict):
            return Outcome.failed("fallbackBranch must be an object", inputs=inputs)

        programs = []
        for index, branch in enumerate(branches):
            name = branch.get("slug") or f"#{index + 1}"
            expression = branch.get("expression")
            if not isinstance(expression, str) or not expression.strip():
                return Outcome.failed(
                    f"branch '{name}' has no expression", inputs=inputs
                )
            try:
                programs.append((name, branch, compile_cel(expression)))
            except CelCompileError as exc:
                return Outcome.failed(
                    f"branch '{name}': expression {expression!r} does not compile: {exc}",
                    inputs=inputs,
                )

        try:
            activation = cel_activation(ctx.state)
        except (TypeError, ValueError) as exc:
            return Outcome.failed(
                f"the run state can't be given to CEL: {exc}", inputs=inputs
            )
        for name, branch, program in programs:
            try:
                result = evaluate_cel(program, activation)
            except ValueError as exc:
                return Outcome.failed(
                    f"branch '{name}': expression {branch['expression']!r} failed: {exc}",
                    inputs=inputs,
                )
            if not isinstance(result, celtypes.BoolType | bool):
                return Outcome.failed(
                    f"branch '{name}': expression {branch['expression']!r} must be true or false, got {show(_plain(result))}",
                    inputs=inputs,
                )
            if result:
                return _taken(branch, inputs)
        if fallback is not None:
            return _taken(fallback, inputs)
        return Outcome.completed(
            {"branch": None}, inputs=inputs, branch=None, branch_taken=False
        )


def _taken(branch: dict, inputs: dict) -> Outcome:
    return Outcome.completed(
        {"branch": branch.get("slug"), "branchName": branch.get("name")},
        inputs=inputs,
        branch=branch.get("outgoingAction") or None,
        branch_taken=True,
    )


def _plain(value: object) -> object:
    """A CEL value as plain JSON-ish Python, for messages."""
    if isinstance(value, celtypes.MapType):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType):
        return [_plain(v) for v in value]
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    return value if value is None else str(value)
