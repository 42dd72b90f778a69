"""The tests' own layout: shared helpers live in tests/helpers/, and no test module imports another."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, as dotted names (`from tests import x` gives `tests.x`)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def is_test_module_or_conftest(module: str) -> bool:
    """Whether a dotted name is one of the test modules or conftest, rather than a helper."""
    parts = module.split(".")
    return (
        len(parts) == 2 and parts[0] == "tests" and (parts[1] == "conftest" or parts[1].startswith("test_"))
    )


def test_no_test_module_helper_or_conftest_imports_a_test_module_or_conftest():
    offenders = {
        f"{path.relative_to(TESTS.parent)} imports {module}"
        for path in TESTS.rglob("*.py")
        for module in imported_modules(path)
        if is_test_module_or_conftest(module)
    }
    assert not offenders, sorted(offenders)


def test_tests_share_code_only_through_the_helpers_package():
    loose = {path.name for path in TESTS.glob("*.py")} - {"__init__.py", "conftest.py"}
    assert {name for name in loose if not name.startswith("test_")} == set()
