"""Every bad input in ``bad_inputs_cases.CASES`` answers through the real command line with one
error line (no traceback, no driver dump) holding the expected words, and the right exit code;
``docs/bad-inputs.md`` lists every case (regenerate it with the command in that module)."""
from __future__ import annotations

from pathlib import Path

import pytest
from bad_inputs_cases import CASES, Case, Context, check, free_port, http_server, \
    read_only_user_prefix, require_password_role, run_case

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-inputs.md"


@pytest.fixture(scope="module")
def http_port():
    with http_server() as port:
        yield port


@pytest.fixture(scope="module")
def dead_port() -> int:
    return free_port()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_input_answers_with_one_sentence(case: Case, tmp_path, request, http_port,
                                               dead_port):
    pg_port = 0
    if "postgres" in case.needs:
        server = request.getfixturevalue("pg_server")
        require_password_role(server)
        pg_port = server.port
    if case.process and read_only_user_prefix() is None:
        pytest.skip("running as root without setpriv: cannot see file modes as a user would")
    ctx = Context(pg_port=pg_port, dead=dead_port, http=http_port)
    root = tmp_path / "case"
    root.mkdir()
    outcome = run_case(case, root, ctx)
    problem = check(case, outcome, root, ctx)
    assert problem is None, f"{case.name}: {problem}"


def test_the_cases_are_forty_distinct_bad_inputs_and_the_doc_lists_them_all():
    assert len({c.name for c in CASES}) == len(CASES)
    assert len({c.what for c in CASES}) == len(CASES)
    assert len(CASES) >= 40
    doc = DOC.read_text(encoding="utf-8")
    rows = [ln for ln in doc.splitlines() if ln.startswith("| ") and not ln.startswith("| #")]
    assert len(rows) == len(CASES), "regenerate docs/bad-inputs.md (see bad_inputs_cases.py)"
    for case, row in zip(CASES, rows):
        assert case.what.replace("|", "\\|") in row, (case.name, row)
