"""Import an engine's metrics modules from its released package without its heavy dependencies.

`install(real=..., stub_prefixes=...)` puts two finders on `sys.meta_path`:

- before the normal finders: modules under `stub_prefixes` (the engine package, torch, ...)
  are loaded from the installed package when listed in `real` (by module name), and
  replaced by permissive stubs otherwise, so importing `vllm.v1.metrics.loggers` does not
  run `vllm/__init__.py` or import torch;
- after them: any other module that is not installed becomes a stub too.

Every stubbed module is recorded in `STUBBED`, so the provenance can say what was not real.
A stub is a class whose attributes are stub classes: it can be subclassed, called (a call
with one callable argument returns it, so stubbed decorators are identities), subscripted
and combined with `|` in annotations.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types

STUBBED: set = set()


class _StubMeta(type):
    def __new__(mcls, name, bases, ns, **kwargs):
        return super().__new__(mcls, name, bases, ns)

    def __init__(cls, name, bases, ns, **kwargs):
        super().__init__(name, bases, ns)

    def __getattr__(cls, name):
        if name.startswith('__') and name.endswith('__'):
            raise AttributeError(name)
        return _make(f'{cls.__name__}.{name}')

    def __getitem__(cls, item):
        return cls

    def __or__(cls, other):
        return cls

    def __ror__(cls, other):
        return cls

    def __iter__(cls):
        return iter(())

    def __call__(cls, *args, **kwargs):
        if len(args) == 1 and not kwargs and (callable(args[0]) or isinstance(args[0], type)):
            return args[0]
        return type.__call__(cls)


class Stub(metaclass=_StubMeta):
    def __init__(self, *args, **kwargs):
        pass

    def __init_subclass__(cls, **kwargs):
        pass

    def __getattr__(self, name):
        if name.startswith('__') and name.endswith('__'):
            raise AttributeError(name)
        return _make(name)

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and callable(args[0]):
            return args[0]
        return Stub()

    def __getitem__(self, item):
        return Stub()

    def __iter__(self):
        return iter(())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __or__(self, other):
        return self


def _make(name):
    return _StubMeta(name.rsplit('.', 1)[-1], (Stub,), {'__module__': 'stub'})


class StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith('__') and name.endswith('__'):
            raise AttributeError(name)
        value = _make(f'{self.__name__}.{name}')
        setattr(self, name, value)
        return value


class PackageModule(StubModule):
    """A real package directory without its `__init__`: submodule files import, other names are stubs."""

    def __getattr__(self, name):
        if name.startswith('__') and name.endswith('__'):
            raise AttributeError(name)
        base = os.path.join(self.__path__[0], name)
        if os.path.isfile(base + '.py') or os.path.isdir(base):
            import importlib
            return importlib.import_module(f'{self.__name__}.{name}')
        return StubModule.__getattr__(self, name)


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec):
        STUBBED.add(spec.name)
        m = StubModule(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


class _PackageLoader(importlib.abc.Loader):
    """A package whose `__init__` is not run: only its directory, so real submodules load."""

    def __init__(self, directory):
        self.directory = directory

    def create_module(self, spec):
        m = PackageModule(spec.name)
        m.__path__ = [self.directory]
        return m

    def exec_module(self, module):
        pass


def _locate(fullname, site):
    base = os.path.join(site, *fullname.split('.'))
    if os.path.isfile(base + '.py'):
        return base + '.py', False
    if os.path.isdir(base):
        return base, True
    return None, False


class _FirstFinder(importlib.abc.MetaPathFinder):
    def __init__(self, real, stub_prefixes, site):
        self.real, self.prefixes, self.site = set(real), tuple(stub_prefixes), site

    def find_spec(self, fullname, path=None, target=None):
        if not any(fullname == p or fullname.startswith(p + '.') for p in self.prefixes):
            return None
        location, is_pkg = _locate(fullname, self.site)
        if fullname in self.real and location and not is_pkg:
            return importlib.util.spec_from_file_location(fullname, location)
        if fullname in self.real and is_pkg:
            return importlib.util.spec_from_file_location(fullname, os.path.join(location, '__init__.py'), submodule_search_locations=[location])
        if is_pkg and any(r.startswith(fullname + '.') for r in self.real):
            return importlib.machinery.ModuleSpec(fullname, _PackageLoader(location), is_package=True)
        return importlib.machinery.ModuleSpec(fullname, _StubLoader(), is_package=True)


class _LastFinder(importlib.abc.MetaPathFinder):
    """Stubs a module nothing else found, when the engine's code imports it (a library's own optional imports still fail)."""

    def __init__(self, prefixes):
        self.prefixes = tuple(prefixes)

    def find_spec(self, fullname, path=None, target=None):
        f = sys._getframe(1)
        while f is not None:
            name = f.f_globals.get('__name__', '')
            if not f.f_code.co_filename.startswith('<frozen') and name != __name__ and not name.startswith('importlib'):
                break
            f = f.f_back
        importer = f.f_globals.get('__name__', '') if f is not None else ''
        if not any(importer == p or importer.startswith(p + '.') for p in self.prefixes):
            return None
        return importlib.machinery.ModuleSpec(fullname, _StubLoader(), is_package=True)


def install(real, stub_prefixes, site):
    """`real`: module names loaded from the package in `site`; `stub_prefixes`: packages whose other modules are stubbed."""
    sys.meta_path.insert(0, _FirstFinder(real, stub_prefixes, site))
    sys.meta_path.append(_LastFinder(stub_prefixes))


def stubbed():
    """Top-level view of what was stubbed: `vllm.config`, `torch`, ... (submodules of a stub folded in)."""
    out = sorted(STUBBED)
    return [m for m in out if not any(m.startswith(o + '.') for o in out if o != m)]


OVERRIDDEN: dict = {}


def override(module, **attrs):
    """Give a stubbed module real attributes (set before the engine's code imports it)."""
    OVERRIDDEN.setdefault(module, []).extend(sorted(attrs))
    m = sys.modules.get(module)
    if m is None:
        import importlib
        m = importlib.import_module(module)
    for k, v in attrs.items():
        setattr(m, k, v)


def definition_from_source(path, name, namespace=None):
    """One top-level class or function of a source file, executed on its own: the engine's own
    definition without the rest of its module's imports."""
    import ast
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    node = next(n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == name)
    ns = dict(namespace or {})
    exec(compile(ast.Module(body=[node], type_ignores=[]), path, 'exec'), ns)
    return ns[name]
