"""The page's settings that are not in the address: what the browser says about itself."""
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
def test_phones_are_told_apart_by_their_user_agent(user_agent, phone):
    assert settings.on_a_phone(user_agent) is phone
