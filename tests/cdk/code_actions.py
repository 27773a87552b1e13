"""Which AWS API actions a Lambda function's code can call, found by reading the code, not running it.

From the handler module the template names ("functions.api.handler.handler"), every first-party
module it imports (at the top, inside functions, relatively or not) is parsed, and every boto3
client call is collected: `aws_clients.client("s3").put_object(...)`, a client kept in a variable
(`db = ...client("dynamodb")`), in an attribute (`self._client = boto3...client("lambda")`) or
returned by a function or property (`def _db(self): return aws_clients.client("dynamodb")`).
Nothing names a module path, so moving modules between packages changes nothing here.

The method names are turned into IAM actions through botocore's own service models (boto3's
`put_object` is the S3 operation `PutObject`), plus the few operations IAM authorizes under
another name (TransactWriteItems, Invoke, the WebSocket @connections calls...).

Anything that looks like a client call but could not be traced to a client is reported, not
ignored: a new way of holding a client must be taught here (or the call allowlisted with a
reason), so the analysis cannot silently miss a call.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import botocore.session

# IAM authorizes these operations under other actions than their own name.
ACTION_OVERRIDES: dict[tuple[str, str], frozenset[str]] = {
    # A transaction has no action of its own: IAM checks each member as the write it is.
    ("dynamodb", "TransactWriteItems"): frozenset(
        {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"}
    ),
    ("dynamodb", "TransactGetItems"): frozenset({"dynamodb:GetItem"}),
    ("lambda", "Invoke"): frozenset({"lambda:InvokeFunction"}),
    ("s3", "HeadObject"): frozenset({"s3:GetObject"}),
    ("s3", "DeleteObjects"): frozenset({"s3:DeleteObject"}),
    ("sqs", "SendMessageBatch"): frozenset({"sqs:SendMessage"}),
    ("sqs", "DeleteMessageBatch"): frozenset({"sqs:DeleteMessage"}),
    ("sqs", "ChangeMessageVisibilityBatch"): frozenset({"sqs:ChangeMessageVisibility"}),
    # A schedule's target role is handed to EventBridge Scheduler on create and update.
    ("scheduler", "CreateSchedule"): frozenset({"scheduler:CreateSchedule", "iam:PassRole"}),
    ("scheduler", "UpdateSchedule"): frozenset({"scheduler:UpdateSchedule", "iam:PassRole"}),
}
# Arguments that make IAM check a second action on top of the operation's own: a PutObject that
# sets tags (x-amz-tagging) is also authorized as s3:PutObjectTagging.
ARGUMENT_ACTIONS: dict[tuple[str, str, str], str] = {
    ("s3", "PutObject", "Tagging"): "s3:PutObjectTagging",
    ("s3", "CopyObject", "Tagging"): "s3:PutObjectTagging",
    ("s3", "CreateMultipartUpload", "Tagging"): "s3:PutObjectTagging",
}
# @connections calls (POST, GET, DELETE) are all authorized as one action.
SERVICE_WIDE_ACTIONS = {"apigatewaymanagementapi": frozenset({"execute-api:ManageConnections"})}
# Client methods that are not API calls.
CLIENT_HELPERS = frozenset({"get_paginator", "get_waiter", "can_paginate", "close", "generate_presigned_url"})


@dataclass(frozen=True)
class ClientCall:
    service: str  # boto3's client name: "dynamodb", "apigatewaymanagementapi"
    method: str  # boto3's method name: "put_item"
    where: str  # "shared/payload_store.py:65"
    # Keyword arguments named in the call (`**kwargs` hides its keys: none counted from it).
    keywords: frozenset[str] = frozenset()


@dataclass
class Analysis:
    modules: list[str] = field(default_factory=list)  # files read, relative to the root
    calls: set[ClientCall] = field(default_factory=set)
    # How each reached function was reached: "file:function" -> "file that named it" (for reading).
    reached_from: dict[str, str] = field(default_factory=dict)
    # Calls named like an operation of a client the code creates, that no client could be traced to.
    untraced: set[tuple[str, str]] = field(default_factory=set)  # (method, where)

    def actions(self) -> set[str]:
        found: set[str] = set()
        for call in self.calls:
            found |= iam_actions(call.service, call.method, call.keywords)
        return found


@cache
def _operations(service: str) -> dict[str, str]:
    """boto3 method name -> API operation name, from botocore's model of the service."""
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


@cache
def _iam_prefix(service: str) -> str:
    return botocore.session.get_session().get_service_model(service).signing_name


def iam_actions(service: str, method: str, keywords: frozenset[str] = frozenset()) -> frozenset[str]:
    if service in SERVICE_WIDE_ACTIONS:
        return SERVICE_WIDE_ACTIONS[service]
    operation = _operations(service).get(method)
    if operation is None:
        raise ValueError(f"{service} has no operation {method!r}")
    actions = ACTION_OVERRIDES.get((service, operation), frozenset({f"{_iam_prefix(service)}:{operation}"}))
    extra = {ARGUMENT_ACTIONS.get((service, operation, keyword)) for keyword in keywords}
    return actions | {action for action in extra if action}


# --- the import graph ------------------------------------------------------------------------------


def _module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _import_base(node: ast.ImportFrom, dotted: str, is_package: bool) -> str:
    """The absolute module a `from ... import` reads from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    parts = (dotted if is_package else dotted.rpartition(".")[0]).split(".")
    return ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))


def _imported_names(tree: ast.AST, dotted: str, is_package: bool) -> Iterator[str]:
    """Every module name an import statement anywhere in the tree may load (first-party or not)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _import_base(node, dotted, is_package)
            yield base
            # `from shared import job_store` imports a submodule
            yield from (f"{base}.{alias.name}" for alias in node.names)


def reachable_modules(root: Path, entry: str) -> dict[str, Path]:
    """The first-party modules `entry` can load, with the packages that contain them."""
    found: dict[str, Path] = {}
    pending = [entry]
    while pending:
        dotted = pending.pop()
        if dotted in found:
            continue
        path = _module_file(root, dotted)
        if path is None:
            continue  # third-party or standard library, or a name imported from a module
        found[dotted] = path
        parts = dotted.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run too
        tree = ast.parse(path.read_text(), str(path))
        pending.extend(_imported_names(tree, dotted, path.name == "__init__.py"))
    return found


# --- client calls ------------------------------------------------------------------------------------


class _Clients:
    """What names client objects across the whole program: bound names, attributes, providers."""

    def __init__(self) -> None:
        self.names: dict[str, set[str]] = {}  # variable -> services
        self.attributes: dict[str, set[str]] = {}  # self.<attr> -> services
        self.providers: dict[str, set[str]] = {}  # function / method / property -> services

    def services(self) -> set[str]:
        return {s for d in (self.names, self.attributes, self.providers) for v in d.values() for s in v}

    def size(self) -> int:
        return sum(len(v) for d in (self.names, self.attributes, self.providers) for v in d.values())

    def services_of(self, node: ast.AST) -> set[str]:
        """The services whose client `node` evaluates to (empty if it is no client we know)."""
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "client" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    return {first.value}
                return set()
            return set(self.providers.get(name, set())) if name else set()
        if isinstance(node, ast.Name):
            return set(self.names.get(node.id, set()))
        if isinstance(node, ast.Attribute):
            return self.attributes.get(node.attr, set()) | self.providers.get(node.attr, set())
        return set()

    def learn(self, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                services = self.services_of(node.value)
                if not services:
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        self.names.setdefault(target.id, set()).update(services)
                    elif isinstance(target, ast.Attribute):
                        self.attributes.setdefault(target.attr, set()).update(services)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Return) and inner.value is not None:
                        services = self.services_of(inner.value)
                        if services:
                            self.providers.setdefault(node.name, set()).update(services)


Definition = ast.FunctionDef | ast.AsyncFunctionDef
Found = list[tuple["_Module", Definition]]
# Base classes whose methods stand for every implementation (found by name).
ABSTRACT_BASES = ("Protocol", "ABC")


def _class_names(node: ast.AST | None) -> set[str]:
    """Class names an annotation or a constructing expression names (`A | None`, `x or A(...)`)."""
    if isinstance(node, ast.Call):
        return _class_names(node.func)
    if isinstance(node, ast.Name):
        return {node.id} if node.id[:1].isupper() else set()
    if isinstance(node, ast.Attribute):
        return {node.attr} if node.attr[:1].isupper() else set()
    if isinstance(node, ast.BinOp):
        return _class_names(node.left) | _class_names(node.right)
    if isinstance(node, ast.BoolOp):
        return set().union(*(_class_names(v) for v in node.values))
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
        try:
            return _class_names(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return set()
    return set()


def _base_name(node: ast.AST) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


@dataclass
class _Module:
    """One parsed file: its functions and classes, and what the names it uses stand for."""

    file: str
    tree: ast.Module
    functions: dict[str, list[Definition]] = field(default_factory=dict)  # top level
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)  # top level
    # alias -> (module, None) for `import a.b as alias`, (module, name) for `from module import name`
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    owner: dict[int, ast.ClassDef] = field(default_factory=dict)  # id(method) -> its class
    # Class names a variable or `self.<attr>` is seen to hold (`x = Cls(...)`, `x: Cls | None`),
    # whatever the scope: enough to tell `service.refresh()` from another class's `refresh`.
    variable_types: dict[str, set[str]] = field(default_factory=dict)
    attribute_types: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, file: str, dotted: str, path: Path) -> _Module:
        module = cls(file, ast.parse(path.read_text(), str(path)))
        for node in module.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                module.functions.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.ClassDef):
                module.classes[node.name] = node
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    module.owner[id(item)] = node
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        module.imports[alias.asname] = (alias.name, None)
            elif isinstance(node, ast.ImportFrom):
                base = _import_base(node, dotted, path.name == "__init__.py")
                for alias in node.names:
                    module.imports[alias.asname or alias.name] = (base, alias.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    module._note_type(target, _class_names(node.value))
            elif isinstance(node, ast.AnnAssign):
                module._note_type(node.target, _class_names(node.annotation) | _class_names(node.value))
            elif isinstance(node, ast.arg):
                module.variable_types.setdefault(node.arg, set()).update(_class_names(node.annotation))
        return module

    def _note_type(self, target: ast.AST, classes: set[str]) -> None:
        if not classes:
            return
        if isinstance(target, ast.Name):
            self.variable_types.setdefault(target.id, set()).update(classes)
        elif isinstance(target, ast.Attribute) and _is_self(target.value):
            self.attribute_types.setdefault(target.attr, set()).update(classes)

    def module_level(self) -> list[ast.AST]:
        """What runs on import: statements, class bodies and decorators, not function bodies.
        (Argument defaults belong to their function: a function passed as a default runs only
        when the function that has it does.)"""
        code: list[ast.AST] = [
            n for n in self.tree.body if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        for node in ast.walk(self.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                code += node.decorator_list
        return code


def _function_code(definition: Definition, stored: dict[str, list[ast.AST]]) -> list[ast.AST]:
    """A function's body and its argument defaults. A default the function only keeps as
    `self.<attr> = <argument>` (an injected collaborator) runs only where `self.<attr>` is used, so
    it goes to `stored` under that attribute instead: building an object does not call it."""
    arguments = definition.args.args[-len(definition.args.defaults) :] if definition.args.defaults else []
    pairs = list(zip(arguments, definition.args.defaults, strict=True))
    pairs += [
        (a, d) for a, d in zip(definition.args.kwonlyargs, definition.args.kw_defaults, strict=True) if d
    ]
    kept: dict[str, str] = {}  # argument -> attribute it is stored in
    for node in ast.walk(definition):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if isinstance(value, ast.BoolOp):  # self.x = x or default()
                value = value.values[0]
            if isinstance(target, ast.Attribute) and _is_self(target.value) and isinstance(value, ast.Name):
                kept[value.id] = target.attr
    code: list[ast.AST] = list(definition.body)
    for argument, default in pairs:
        if argument.arg in kept:
            stored.setdefault(kept[argument.arg], []).append(default)
        else:
            code.append(default)
    return code


def _locals(definition: Definition) -> set[str]:
    """A function's arguments and the variables it assigns."""
    arguments = definition.args
    names = {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
    names |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
    for node in _region(definition.body):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def _is_super(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def _region(body: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node of a block of code except what nested functions hold (each is reached on its own)."""
    pending = list(body)
    while pending:
        node = pending.pop()
        yield node
        pending += [
            c for c in ast.iter_child_nodes(node) if not isinstance(c, ast.FunctionDef | ast.AsyncFunctionDef)
        ]


class _Program:
    """The reachable modules, and which definitions a name used in one of them can stand for."""

    def __init__(self, root: Path, modules: dict[str, Path]) -> None:
        self.modules = {
            dotted: _Module.read(path.relative_to(root).as_posix(), dotted, path)
            for dotted, path in modules.items()
        }
        self.every: dict[str, Found] = {}  # every function and method, by name
        self.classes: dict[str, list[tuple[_Module, ast.ClassDef]]] = {}
        for module in self.modules.values():
            for node in ast.walk(module.tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    self.every.setdefault(node.name, []).append((module, node))
                elif isinstance(node, ast.ClassDef):
                    self.classes.setdefault(node.name, []).append((module, node))

    def methods(self, module: _Module, cls: ast.ClassDef, name: str, depth: int = 0) -> Found:
        """`name` in `cls` or, if it has none, in its bases (first-party ones, by name)."""
        found: Found = [
            (module, item)
            for item in cls.body
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == name
        ]
        if found or depth > 10:
            return found
        for base in cls.bases:
            for base_module, base_cls in self.classes.get(_base_name(base), []):
                found += self.methods(base_module, base_cls, name, depth + 1)
        return found

    def dunders(self, module: _Module, cls: ast.ClassDef, depth: int = 0) -> Found:
        """What runs without being named once a class is used: constructors, context managers,
        __call__..., its own and its first-party bases'."""
        found: Found = [
            (module, item)
            for item in cls.body
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("__")
        ]
        if depth <= 10:
            for base in cls.bases:
                for base_module, base_cls in self.classes.get(_base_name(base), []):
                    found += self.dunders(base_module, base_cls, depth + 1)
        return found

    def _by_name(self, name: str) -> Found:
        found = list(self.every.get(name, []))
        for module, cls in self.classes.get(name, []):
            found += self.dunders(module, cls)
        return found

    def _typed(self, module: _Module, value: ast.AST, name: str) -> Found:
        """`name` as a method of the classes `value` is seen to hold; an abstract method stands
        for every implementation."""
        if isinstance(value, ast.Name):
            classes = module.variable_types.get(value.id, set())
        elif isinstance(value, ast.Attribute) and _is_self(value.value):
            classes = module.attribute_types.get(value.attr, set())
        else:
            return []
        found: Found = []
        for class_name in classes:
            for class_module, cls in self.classes.get(class_name, []):
                methods = self.methods(class_module, cls, name)
                abstract = any(_base_name(b) in ABSTRACT_BASES for b in cls.bases)
                found += self.every.get(name, []) if methods and abstract else methods
        return found

    def _imported(self, module: _Module, alias: str, attribute: str | None) -> Found | None:
        """What `alias` (or `alias.attribute`) names when alias was imported; None if unknown."""
        source, name = module.imports[alias]
        if attribute is None:
            origin = self.modules.get(source)
            if origin is None or name is None:
                return None
            if name in origin.functions:
                return [(origin, d) for d in origin.functions[name]]
            if name in origin.classes:
                return self.dunders(origin, origin.classes[name])
            return None
        target = self.modules.get(f"{source}.{name}" if name else source)
        if target is not None and attribute in target.functions:
            return [(target, d) for d in target.functions[attribute]]
        if target is not None and attribute in target.classes:
            return self.dunders(target, target.classes[attribute])
        origin = self.modules.get(source)
        if name and origin is not None and name in origin.classes:
            return self.methods(origin, origin.classes[name], attribute)
        return None

    def resolve(self, module: _Module, method_of: ast.ClassDef | None, node: ast.AST) -> tuple[Found, bool]:
        """The definitions a Name or Attribute may stand for, and whether the code narrowed them
        down (own class, imported module, known type) or they only share the name."""
        if isinstance(node, ast.Name):
            if node.id in module.functions:
                return [(module, d) for d in module.functions[node.id]], True
            if node.id in module.classes:
                return self.dunders(module, module.classes[node.id]), True
            if node.id in module.imports:
                imported = self._imported(module, node.id, None)
                if imported is not None:
                    return imported, True
            return self._by_name(node.id), False
        if isinstance(node, ast.Attribute):
            value = node.value
            if _is_self(value) and method_of is not None:
                own = self.methods(module, method_of, node.attr)
                if own:
                    return own, True
            if _is_super(value) and method_of is not None:
                inherited: Found = []
                for base in method_of.bases:
                    for base_module, base_cls in self.classes.get(_base_name(base), []):
                        inherited += self.methods(base_module, base_cls, node.attr)
                return inherited, True
            typed = self._typed(module, value, node.attr)
            if typed:
                return typed, True
            if isinstance(value, ast.Name) and value.id in module.imports:
                imported = self._imported(module, value.id, node.attr)
                if imported is not None:
                    return imported, True
            return self._by_name(node.attr), False
        return [], False


def analyze(root: Path, entry: str, handler: str, allowlisted: Iterable[str] = ()) -> Analysis:
    """Every client call the code reachable from `entry`.`handler` can make.

    Reachable: the handler, what every loaded module runs on import, and, transitively, every
    function a reachable one names (a class named: its dunder methods, which run unnamed): `self.x` a
    method of its own class or bases, `module.x` and imported names that module's function,
    `var.x` a method of the class var is seen to hold, anything else every function of that name
    (an over-approximation that needs no type checker and only errs towards more calls).
    """
    program = _Program(root, reachable_modules(root, entry))
    clients = _Clients()
    while True:  # to a fixed point: a provider may return what another provider returned
        before = clients.size()
        for module in program.modules.values():
            clients.learn(module.tree)
        if clients.size() == before:
            break
    operation_names = {method for service in clients.services() for method in _operations(service)}
    allowed = set(allowlisted)

    analysis = Analysis(modules=sorted(m.file for m in program.modules.values()))
    pending: list[tuple[_Module, str, ast.ClassDef | None, list[ast.AST], set[str]]] = [
        (module, "<module>", None, module.module_level(), set()) for module in program.modules.values()
    ]
    entry_module = program.modules[entry]
    stored: dict[str, list[ast.AST]] = {}  # self.<attr> -> defaults kept there, reached with it
    used_attributes: set[str] = set()
    pending += [
        (entry_module, handler, None, _function_code(d, stored), _locals(d))
        for d in entry_module.functions.get(handler, [])
    ]
    seen: set[int] = set()
    while True:
        if not pending:
            # Injected defaults whose attribute the reached code uses: they may run after all.
            for attribute in sorted(used_attributes & set(stored)):
                pending.append(
                    (program.modules[entry], f"self.{attribute}", None, stored.pop(attribute), set())
                )
            if not pending:
                break
        module, function, method_of, body, local_names = pending.pop()
        for node in _region(body):
            if isinstance(node, ast.Name) and node.id in local_names:
                pass  # a variable or argument, whatever functions share its name
            elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
                for target, definition in program.resolve(module, method_of, node)[0]:
                    if id(definition) not in seen:
                        seen.add(id(definition))
                        pending.append(
                            (
                                target,
                                definition.name,
                                target.owner.get(id(definition)),
                                _function_code(definition, stored),
                                _locals(definition),
                            )
                        )
                        analysis.reached_from[f"{target.file}:{definition.name}"] = (
                            f"{module.file}:{function}"
                        )
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and _is_self(node.value):
                used_attributes.add(node.attr)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                _collect(analysis, clients, program, module, method_of, node, operation_names - allowed)
    return analysis


def _collect(
    analysis: Analysis,
    clients: _Clients,
    program: _Program,
    module: _Module,
    method_of: ast.ClassDef | None,
    call: ast.Call,
    suspicious: set[str],
) -> None:
    assert isinstance(call.func, ast.Attribute)
    method = call.func.attr
    where = f"{module.file}:{call.lineno}"
    services = clients.services_of(call.func.value)
    if services and method not in CLIENT_HELPERS:
        for service in services:
            if method in _operations(service) or service in SERVICE_WIDE_ACTIONS:
                keywords = frozenset(k.arg for k in call.keywords if k.arg)
                analysis.calls.add(ClientCall(service, method, where, keywords))
            else:
                analysis.untraced.add((method, where))
    elif not services and method in suspicious and not program.resolve(module, method_of, call.func)[1]:
        # Named like an operation, on something that is neither a client we traced nor an object
        # of ours whose class we know: report it rather than guess.
        analysis.untraced.add((method, where))
