"""Canonical values: numbers by meaning, booleans as booleans, strings as written; the stored
text form tells them apart, and SQL reads stored params back to the same canonical values."""
from __future__ import annotations

import pytest
from sqlmodel import Session

from adlab.core.run_spec import make_run_spec
from adlab.core.values import (canonical, canonical_json, coerce_stringified, from_value_text,
                               stable_hash, value_text)


def test_distinct_strings_stay_distinct():
    for a, b in [("1.10", "1.1"), ("off", "no"), ("true", "yes"), ("01", "1"), ("", "none"),
                 ("x", " x")]:
        assert canonical(a) != canonical(b)
        assert stable_hash({"k": a}) != stable_hash({"k": b})


def test_numbers_compare_numerically():
    assert canonical_json({"lr": 2e-4}) == canonical_json({"lr": 0.0002})
    assert stable_hash({"x": 1}) == stable_hash({"x": 1.0})
    assert stable_hash([1e3]) == stable_hash([1000])
    assert stable_hash({"x": 1}) != stable_hash({"x": 2})


def test_true_equals_true_only_for_booleans():
    assert stable_hash({"f": True}) == stable_hash({"f": True})
    assert stable_hash({"f": True}) != stable_hash({"f": "true"})
    assert stable_hash({"f": True}) != stable_hash({"f": 1})  # a flag is not a count
    assert stable_hash({"f": None}) != stable_hash({"f": "null"})


def test_strings_are_not_numbers():
    from adlab.core.values import numeric_value

    assert numeric_value("0.0002") is None and numeric_value(True) is None
    assert numeric_value(2e-4) == 0.0002 and numeric_value(3) == 3.0


@pytest.mark.parametrize("text, value", [
    ("2e-4", 0.0002), ("0.00020", 0.0002), ("3", 3), ("3.0", 3.0), ("-1", -1), ("True", True),
    ("false", False), ("None", None), ("null", None), ("[1, 2]", [1, 2]),
    ("['a', 'b']", ["a", "b"]), ('{"a": 1}', {"a": 1}), ("{'a': 1}", {"a": 1}),
    ("yes", "yes"), ("off", "off"), ("1_000", "1_000"), ("wide_resnet50_2", "wide_resnet50_2"),
    ("[not a list", "[not a list"), ("01", "01"), ("007", "007"), ("0", 0), ("0.5", 0.5),
    (".5", 0.5), ("1e-05", 1e-05), ('"1.10"', "1.10"), ('"a', '"a'),
])
def test_coerce_stringified_reads_what_str_wrote(text, value):
    got = coerce_stringified(text)
    assert got == value and type(got) is type(value)


def test_coerce_stringified_leaves_typed_values_alone():
    for value in (0.0002, True, None, [1, "2"], {"a": "3"}):
        assert coerce_stringified(value) == value


def test_yaml_numbers_are_numbers():
    from adlab.config.overrides import parse_set_option
    from adlab.config.yamlio import parse_scalar

    assert parse_scalar("2e-4") == 2e-4 and isinstance(parse_scalar("2e-4"), float)
    assert parse_set_option("train.lr=2e-4") == ("train.lr", 2e-4)
    assert parse_scalar('"1.10"') == "1.10"  # quoted: a string, as YAML says


VALUES = ["1.10", "1.1", "true", "null", "", "bottle", '"quoted"', " 3", "NaN", 1.1, 0.0002, 3,
          True, False, None, [1, "a"], {"a": 1, "b": [True]}]


def test_value_text_round_trips_and_keeps_values_apart():
    texts = [value_text(v) for v in VALUES]
    assert len(set(texts)) == len(texts)
    for v, t in zip(VALUES, texts):
        assert canonical(from_value_text(t)) == canonical(v) and type(from_value_text(t)) is type(v)
    assert value_text("bottle") == "bottle" and value_text("1.10") == '"1.10"'


def test_value_text_keeps_a_stringified_spelling_of_a_number_only():
    assert value_text(0.0002, "2e-4") == "2e-4"
    assert value_text(3.0, "3.0") == "3.0"
    assert value_text(True, "True") == "true"
    assert value_text(0.0002, "0.0003") == "0.0002"  # a spelling of another number is ignored


def test_sql_reads_stored_params_by_the_same_meaning(engine):
    """Stored through the one writer, read back by the comparison queries and --where."""
    from adlab.db import compare_queries as cq
    from adlab.db.run_filter import RunFilter
    from adlab.db.runs import insert_run

    ids = {}
    with Session(engine) as s:
        for i, v in enumerate(VALUES):
            flat = {"v": v, "i": i}
            spec = make_run_spec(pipeline="t", config=flat, flat=flat, partition_keys=())
            ids[i] = insert_run(s, spec, status="succeeded")
        s.commit()
    back = cq.param_values(engine, run_ids=ids.values(), keys=["v"])
    for i, v in enumerate(VALUES):
        assert back[ids[i]].get("v") == canonical(v), v
    from adlab.db.queries import list_runs

    def where(value):
        return [r.id for r in list_runs(engine, filters=RunFilter(statuses=(), where=(("v", value),)))]

    assert where("1.10") == [ids[0]] and where(1.1) == [ids[9]] and where("1.1") == [ids[1]]
    assert where(True) == [ids[12]] and where("true") == [ids[2]]
    assert where("null") == [ids[3]] and where(None) == [ids[14]]
    assert where([1, "a"]) == [ids[15]]
