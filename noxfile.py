"""nox sessions: tests, tests-gpu, lint, docs, bench, bench-compare.

``docs``           the documentation site, warning-free (``sphinx-build -W``), offline; every
                   example of the gallery runs (``PROJKIT_EXAMPLES_FULL=1`` for full sizes).
``bench``          ``asv check``, then every asv benchmark once (``--quick``) in this
                   environment, then ``asv publish`` (HTML in ``benchmarks/html``).
``bench-compare``  ``asv continuous`` between ``HEAD~1`` and ``HEAD`` (or the two commits given
                   after ``--``): fails when a benchmark is slower by more than the factor
                   ``PROJKIT_ASV_FACTOR`` (default 1.5, i.e. 50 % slower), the noise level of
                   a shared machine. Builds both commits in asv's own virtualenvs.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint"]

ASV_FACTOR = os.environ.get("PROJKIT_ASV_FACTOR", "1.5")


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
    session.install("-e", ".[docs,examples,dask]")  # dask: the projkit.distributed API page
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html",
                *session.posargs)


@nox.session
def bench(session):
    session.install("-e", ".[bench]")
    session.chdir("benchmarks")
    session.run("asv", "machine", "--yes")
    session.run("asv", "check", "--python=same")
    session.run("asv", "run", "--quick", "--python=same", "--show-stderr", *session.posargs)
    session.run("asv", "publish")


@nox.session(name="bench-compare")
def bench_compare(session):
    base, head = (session.posargs[:2] if len(session.posargs) >= 2 else ["HEAD~1", "HEAD"])
    extra = session.posargs[2:]
    session.install("asv>=0.6", "virtualenv", "build")
    session.chdir("benchmarks")
    session.run("asv", "machine", "--yes")
    # exits non-zero when some benchmark of `head` is slower than at `base` by > the factor
    session.run("asv", "continuous", "--factor", ASV_FACTOR, "--split", "--show-stderr",
                base, head, *extra)
