"""Rate tables: the shipped ones are valid, and every rule the validator enforces catches a bad edit."""
import copy
import shutil
import subprocess
import sys

import pytest
import yaml

from common.settings import REPO_ROOT
from quotes.rates import RateTableError, load_rate_tables, parse_rate_table, validate_rate_dir, validate_rate_table
from tests.quotes.conftest import CONTENT_DIR, RATES_DIR


def raw(product_id: str) -> dict:
    return yaml.safe_load((RATES_DIR / f"{product_id}.yml").read_text(encoding="utf-8"))


def problems(data: dict, catalogue, product_id: str) -> list[str]:
    try:
        table = parse_rate_table(data, f"{product_id}.yml")
    except RateTableError as exc:
        return exc.problems
    return validate_rate_table(table, catalogue.get(product_id))


def test_shipped_tables_are_valid_and_versioned(catalogue, rate_tables):
    assert validate_rate_dir(RATES_DIR, catalogue) == []
    assert set(rate_tables) == set(catalogue.ids())
    for table in rate_tables.values():
        assert table.version and table.validity_hours > 0


@pytest.mark.parametrize("product_id,mutate,needle", [
    ("medical_million", lambda d: d["base_premiums"].pop(3), "gap"),
    ("medical_million", lambda d: d["base_premiums"][3].update(age=[16, 25]), "overlap"),
    ("medical_million", lambda d: d["base_premiums"].pop(), "stop before 65"),
    ("medical_million", lambda d: d["base_premiums"][5].update(premium=100), "older must never cost less"),
    ("medical_million", lambda d: d["payment_modes"]["monthly"].update(factor=0.08), "cost less than the base premium"),
    ("medical_million", lambda d: d["payment_modes"].pop("monthly"), "payment_modes"),
    ("medical_million", lambda d: d["base_premiums"][0].update(premium=-5), "positive number"),
    ("medical_million", lambda d: d["base_premiums"][0].update(premium="abc"), "expected a number"),
    ("medical_million", lambda d: d.pop("version"), "missing keys ['version']"),
    ("medical_million", lambda d: d.update(versoin="x"), "unknown keys ['versoin']"),
    ("medical_million", lambda d: d.update(effective_from="next week"), "effective_from"),
    ("accident", lambda d: [r.update(coverage=200000) for r in d["base_premiums"] if r["coverage"] == 100000],
     "must equal products.yml options"),
    ("accident", lambda d: d["factors"]["occupation_class"].update({5: 3.0}), "factors.occupation_class"),
    ("accident", lambda d: d["factors"]["occupation_class"].pop(4), "factors.occupation_class"),
    ("accident", lambda d: d["payment_modes"]["monthly"].pop("first_period_premium"), "首月1元"),
    ("accident", lambda d: d["payment_modes"]["monthly"].update(first_period_premium=2), "differs from products.yml"),
    ("accident", lambda d: d["payment_modes"]["monthly"].update(factor=0.0885), "promotion"),
    ("typhoon", lambda d: d["base_premiums"].pop(), "sale regions"),
    ("typhoon", lambda d: d["factors"].update(term_months={1: 1.0}), "factors.term_months"),
    ("screen", lambda d: d["base_premiums"][-1].update(phone_price=[10000, 20000]), "open-ended"),
    ("screen", lambda d: d["base_premiums"][0].update(phone_price=[100, 1999]), "start at 0"),
    ("critical_illness", lambda d: d["factors"].pop("cover_to"), "factors.cover_to"),
    ("critical_illness", lambda d: d["dimensions"].append("coverage"), "keys must be exactly"),
    ("driver_accident", lambda d: d["payment_modes"]["daily"].update(factor=0.03), "cost less than the base premium"),
    ("driver_accident", lambda d: d["factors"].update(occupation_class={1: 1.0}), "does not apply"),
])
def test_validator_catches_bad_edits(catalogue, product_id, mutate, needle):
    data = copy.deepcopy(raw(product_id))
    mutate(data)
    found = problems(data, catalogue, product_id)
    assert found, "the edit should have been rejected"
    assert any(needle in p for p in found), found
    assert all(p.startswith(f"{product_id}.yml") for p in found), "every problem names its file"


def test_load_refuses_a_directory_with_a_bad_or_missing_table(tmp_path, catalogue):
    rates = tmp_path / "rates"
    shutil.copytree(RATES_DIR, rates)
    (rates / "screen.yml").unlink()
    data = raw("accident")
    data["payment_modes"]["monthly"]["factor"] = 0.05
    (rates / "accident.yml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (rates / "pet.yml").write_text("product_id: pet\n", encoding="utf-8")
    with pytest.raises(RateTableError) as exc:
        load_rate_tables(rates, catalogue)
    text = str(exc.value)
    assert "screen.yml: missing" in text and "accident.yml: payment_modes.monthly" in text and "pet.yml" in text


def test_ops_cli_validates(tmp_path):
    env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "quotes", "validate", str(CONTENT_DIR)], env=env,
                        capture_output=True, text=True, cwd=REPO_ROOT)
    assert ok.returncode == 0 and "ok: 6 rate tables valid" in ok.stdout
    content = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, content)
    data = raw("medical_million")
    data["base_premiums"][4]["premium"] = 1
    (content / "rates" / "medical_million.yml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "quotes", "validate", str(content)], env=env,
                         capture_output=True, text=True, cwd=REPO_ROOT)
    assert bad.returncode == 1 and "older must never cost less" in bad.stdout
