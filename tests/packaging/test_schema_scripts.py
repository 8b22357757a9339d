"""The open-time head check reads the scripts as text; it must agree with Alembic or abstain."""
from __future__ import annotations

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from adlab.db.migrate import head_revision
from adlab.db.schema_scripts import head_of, migrations_dir, scanned_head

SCRIPT = '''"""{rev}"""
revision = {rev!r}
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
'''


def _scripts(tmp_path: Path, chain: dict[str, str]) -> Path:
    """A migrations folder (env.py, versions/) with one script per ``rev: down_revision``."""
    root = tmp_path / "migrations"
    (root / "versions").mkdir(parents=True)
    (root / "env.py").write_text("")
    for rev, down in chain.items():
        (root / "versions" / f"{rev}_x.py").write_text(SCRIPT.format(rev=rev, down=down))
    return root


def _alembic_heads(root: Path) -> tuple[str, ...]:
    cfg = Config()
    cfg.set_main_option("script_location", str(root))
    return tuple(ScriptDirectory.from_config(cfg).get_heads())


def test_the_installed_scripts_are_found_and_read_like_alembic_reads_them():
    assert (migrations_dir() / "env.py").is_file()
    assert scanned_head() == head_revision()


def test_a_linear_chain_has_alembics_head(tmp_path):
    root = _scripts(tmp_path, {"a1": "None", "b2": "'a1'", "c3": '"b2"'})
    assert head_of(root / "versions") == "c3"
    assert _alembic_heads(root) == ("c3",)


@pytest.mark.parametrize("chain", [
    {"a1": "None", "b2": "'a1'", "c3": "'a1'"},                        # two heads (a branch)
    {"a1": "None", "b2": "'a1'", "c3": "'a1'", "d4": "('b2', 'c3')"},  # a merge revision
    {"a1": "None", "b2": "'a' + '1'"},                                 # a computed down_revision
])
def test_anything_but_one_plain_head_is_left_to_alembic(tmp_path, chain):
    root = _scripts(tmp_path, chain)
    assert head_of(root / "versions") is None
