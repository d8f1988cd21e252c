"""The copied Twilio samples are the shared ones, and their signatures are genuine."""

from __future__ import annotations

import json

import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import SAMPLES_DIR, SHARED_SAMPLES_DIR, all_samples, load_sample


@pytest.mark.skipif(not SHARED_SAMPLES_DIR.exists(), reason="shared/ is not beside the repository")
def test_copy_matches_shared_samples():
    shared = sorted(p.name for p in SHARED_SAMPLES_DIR.glob("*.json"))
    assert sorted(p.name for p in SAMPLES_DIR.glob("*.json")) == shared
    for name in shared:
        assert json.loads((SAMPLES_DIR / name).read_text()) == json.loads(
            (SHARED_SAMPLES_DIR / name).read_text())


@pytest.mark.parametrize("name", all_samples())
def test_sample_signatures_are_valid(name):
    sample = load_sample(name)
    validator = RequestValidator(sample["auth_token"])
    assert validator.validate(sample["url"], sample["params"], sample["x_twilio_signature"])
