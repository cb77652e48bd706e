"""nox sessions: tests, tests-gpu, lint, docs, bench."""

import nox

nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session):
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session(name="tests-gpu")
def tests_gpu(session):
    session.install("-e", ".[test,gpu]")
    session.run("python", "-m", "pytest", "-q", "-m", "gpu", "tests", *session.posargs)


@nox.session
def lint(session):
    session.install("-e", ".", "ruff", "mypy")
    session.run("ruff", "check", ".")
    session.run("mypy", "projkit")


@nox.session
def docs(session):
    session.install("-e", ".[docs,examples]")
    session.run("sphinx-build", "-b", "html", "docs", "docs/_build/html")


@nox.session
def bench(session):
    session.install("-e", ".[bench]")
    session.chdir("benchmarks")
    session.run("asv", "run", "--quick", "--python=same", "--dry-run", *session.posargs)
