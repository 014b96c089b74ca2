"""ui.settings: what the page offers and how it lays out for a visitor's device."""
import pytest

from ui import settings


@pytest.mark.parametrize("user_agent, phone", [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
     "Mobile/15E148 Safari/604.1", True),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
     "Safari/537.36", True),
    ("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", True),
    ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
     False),  # an Android tablet: wide enough for the graph's default layout
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
     False),
    ("", False),
    (None, False),  # no header at all (a script, a test client)
])
def test_a_phone_is_told_by_its_user_agent(user_agent, phone):
    assert settings.is_phone(user_agent) is phone
