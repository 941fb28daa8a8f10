"""Masking secret values in what runs store and show."""

import base64
import html
import json
from urllib.parse import quote_plus

import httpx
import jq
import pytest
from py_mini_racer import MiniRacer

from workflows.secrets import MASK, scrub, scrub_message


def test_a_secret_is_masked_wherever_it_appears_verbatim():
    value = {"a": ["x tok-1 y"], "b": "tok-1"}
    assert scrub(value, ["tok-1"]) == {"a": [f"x {MASK} y"], "b": MASK}


def test_a_secret_is_masked_in_its_json_escaped_forms_too():
    secret = 'Pässwort "9001"'
    # A server echoing the request body in an error, or a script's JSON.stringify:
    ascii_json = json.dumps({"password": secret})
    unicode_json = json.dumps({"password": secret}, ensure_ascii=False)
    assert scrub(ascii_json, [secret]) == f'{{"password": "{MASK}"}}'
    assert scrub(unicode_json, [secret]) == f'{{"password": "{MASK}"}}'


def test_a_secret_is_masked_url_encoded_too():
    secret = "a b&c/ü"
    assert (
        scrub(f"https://x/?t={quote_plus(secret)}", [secret]) == f"https://x/?t={MASK}"
    )


def test_values_that_are_not_text_and_empty_secrets_are_left_alone():
    assert scrub({"n": 3, "t": True, "s": "abc"}, ["", None]) == {
        "n": 3,
        "t": True,
        "s": "abc",
    }


def test_a_secret_is_masked_html_escaped_too():
    secret = "a&b<c>\"d'"
    # As Mustache's {{…}} writes it, and as Python's html.escape does:
    assert scrub("Bearer a&amp;b&lt;c&gt;&quot;d'", [secret]) == f"Bearer {MASK}"
    assert scrub("a&amp;b&lt;c&gt;&quot;d&#x27;", [secret]) == MASK


def test_a_secret_used_as_a_key_is_masked_in_the_key():
    value = {"tok-1": 1, "a": {"x tok-1": 2, "b": "tok-1"}}
    assert scrub(value, ["tok-1"]) == {MASK: 1, "a": {f"x {MASK}": 2, "b": MASK}}


def test_a_secret_is_masked_as_the_http_client_writes_it_into_a_url():
    secret = "My pass/w0rd!x&<ü>"
    for template in ("https://x/echo?pw={}", "https://x/{}/end"):
        url = str(httpx.URL(template.format(secret)))
        assert secret not in url  # the client did encode it
        assert scrub(f"not found: {url}", [secret]) == "not found: " + template.format(
            MASK
        )


def test_a_secret_is_masked_as_javascript_url_encodes_it():
    secret = 'F&<>"\'\\/ ü {"k":1}'
    racer = MiniRacer()
    racer.eval(f"var s = {json.dumps(secret)}")
    for function in ("encodeURIComponent", "encodeURI"):
        encoded = racer.eval(f"{function}(s)")
        assert scrub(f"q={encoded}", [secret]) == f"q={MASK}", function


def test_a_secret_is_masked_html_escaped_then_url_encoded():
    # {{…}} escapes it for HTML, then the client percent-encodes the URL:
    secret = "a&b c"
    echoed = str(httpx.URL("https://x/?q=a&amp;b c"))
    assert scrub(echoed, [secret]) == f"https://x/?q={MASK}"


SPECIAL = "Qz7\"ab c/d&e<f>+g'h%~Xk9-ü€"


def shown(text: str) -> bool:
    """Whether any telling part of SPECIAL survived masking."""
    return any(part in text.casefold() for part in ("qz7", "xk9", "ab c"))


def test_a_secret_json_escaped_twice_is_masked():
    """A server quoting a JSON request body in its JSON error, or a script
    stringifying JSON text."""
    twice = MiniRacer().eval(f"JSON.stringify(JSON.stringify({json.dumps(SPECIAL)}))")
    masked = scrub(f'{{"error": "bad token {twice[1:-1]}"}}', [SPECIAL])
    assert MASK in masked and not shown(masked)


def test_a_secret_is_masked_as_go_and_php_write_json():
    go = '"Qz7\\"ab c/d\\u0026e\\u003cf\\u003e+g\'h%~Xk9-ü€"'  # encoding/json
    php = '"Qz7\\"ab c\\/d&e<f>+g\'h%~Xk9-\\u00fc\\u20ac"'  # json_encode
    assert scrub(go, [SPECIAL]) == scrub(php, [SPECIAL]) == f'"{MASK}"'


def test_a_secret_is_masked_in_another_letter_case():
    text = f"{SPECIAL.upper()} / {SPECIAL.lower()}"
    assert scrub(text, [SPECIAL]) == f"{MASK} / {MASK}"


def test_a_secret_is_masked_shell_quoted_and_as_javascripts_escape():
    shell = "'Qz7\"ab c/d&e<f>+g'\\''h%~Xk9-ü€'"  # jq's @sh
    escaped = MiniRacer().eval(f"escape({json.dumps(SPECIAL)})")
    assert "%u20AC" in escaped
    assert scrub(shell, [SPECIAL]) == f"'{MASK}'"
    assert scrub(escaped, [SPECIAL]) == MASK


def test_overlapping_secrets_mask_every_place_either_covers():
    """Leftmost-first masking would leave 456789 of the second secret showing."""
    assert scrub("token=xyz123456789!", ["xyz123", "yz123456789"]) == f"token={MASK}!"


def test_an_upper_cased_secret_is_masked_json_escaped_and_where_folding_changes_length():
    secret = "pässwort-straße-9"
    upper = json.dumps(secret.upper())[1:-1]  # P\u00c4SSWORT-STRASSE-9
    assert scrub(f"[{upper}]", [secret]) == f"[{MASK}]"
    # "ß" folds to "ss": what comes after the secret stays where it was.
    assert scrub(f"ß {secret.upper()} ß!", [secret]) == f"ß {MASK} ß!"


def test_a_secret_is_masked_as_jqs_html_and_pythons_html_escape_write_it():
    secret = 'it\'s <42> & "on"'
    at_html = jq.compile("@html").input_value(secret).first()
    assert "&apos;" in at_html
    for escaped in (at_html, html.escape(secret), at_html.replace("&apos;", "&#39;")):
        assert scrub(f"[{escaped}]", [secret]) == f"[{MASK}]", escaped


def test_a_secret_is_masked_as_its_utf8_bytes_read_as_latin1():
    """How a server or client that decodes headers as Latin-1 echoes one."""
    secret = "Grüße-Tiger-42"
    misread = secret.encode().decode("latin-1")  # GrÃ¼Ã\x9fe-Tiger-42
    assert scrub(f"x-token: {misread}", [secret]) == f"x-token: {MASK}"
    assert scrub(json.dumps({"seen": misread}), [secret]) == f'{{"seen": "{MASK}"}}'


def test_a_secret_is_masked_in_base64_wherever_it_starts_in_the_encoded_bytes():
    secret = "tiger-Lily-42?>"
    for before in ("", "a", "ab", "ada:"):
        data = (before + secret).encode()
        for encoded in (
            jq.compile("@base64").input_value(before + secret).first(),
            base64.urlsafe_b64encode(data + b"!").decode().rstrip("="),
        ):
            masked = scrub(f"Basic {encoded}", [secret])
            assert MASK in masked, encoded
            # At most the characters that also hold a neighbouring byte are left:
            assert len(masked) - len(f"Basic {MASK}") <= len(before) * 4 // 3 + 4


def test_a_secret_is_masked_in_hex():
    secret = "tiger-Lily-42"
    assert scrub(f"0x{secret.encode().hex().upper()}.", [secret]) == f"0x{MASK}."


def test_a_short_secrets_encodings_are_too_short_to_be_masked_alone():
    # base64 of "abc" is YWJj: four letters that turn up in unrelated text
    assert scrub("YWJjZGVm and 616263", ["abc"]) == "YWJjZGVm and 616263"


def test_a_secret_of_characters_json_escapes_is_masked_deep_in_an_object_too():
    # Objects are first looked at as one JSON text, where such a secret reads
    # otherwise: it must still be found in its string.
    secret = '"\\&\n'
    value = {"rows": [{"a": "x"}, {"b": f"<{secret}>"}], "n": 1}
    assert scrub(value, [secret]) == {"rows": [{"a": "x"}, {"b": f"<{MASK}>"}], "n": 1}


def test_a_secrets_base64_is_matched_in_its_own_letter_case_only():
    """Folded, a short base64 run turns up in ordinary words ("status")."""
    secret = "tiger-Lily-42"
    encoded = base64.b64encode(secret.encode()).decode()
    assert MASK in scrub(encoded, [secret])
    assert scrub(encoded.swapcase(), [secret]) == encoded.swapcase()


def test_a_numeric_secret_echoed_as_a_number_is_masked_but_not_numbers_holding_it():
    value = {"pin": 987654, "id": 119876543, "n": 5, "ok": True, "f": 1.5}
    assert scrub(value, ["987654"]) == {
        "pin": MASK,
        "id": 119876543,
        "n": 5,
        "ok": True,
        "f": 1.5,
    }


def test_a_secret_is_masked_as_jqs_csv_and_tsv_and_gos_html_template_write_it():
    secret = "say \"hi\"\tto+<all> & 'you'"
    csv = jq.compile("@csv").input_value([secret]).first()
    tsv = jq.compile("@tsv").input_value([secret]).first()
    go = "say &#34;hi&#34;\tto&#43;&lt;all&gt; &amp; &#39;you&#39;"
    decimal = "".join(f"&#{ord(c)};" if c in "&<>\"'+" else c for c in secret)
    hexadecimal = "".join(f"&#x{ord(c):x};" if c in "&<>\"'+" else c for c in secret)
    assert scrub(csv, [secret]) == f'"{MASK}"'
    assert scrub(tsv, [secret]) == MASK
    for form in (go, decimal, hexadecimal):
        assert scrub(f"[{form}]", [secret]) == f"[{MASK}]", form


def test_a_secret_is_masked_with_any_mix_of_htmls_character_references():
    secret = "Zq9-wsS3cret/Val+ue"
    for form in (
        "Zq9-wsS3cret&#x2F;Val+ue",  # mustache.js
        "Zq9-wsS3cret&#47;Val+ue",
        "Zq9&#x2d;wsS3cret&#x2f;Val&#x2b;ue",  # every sign, as ESAPI writes it
        "Zq9-wsS3cret&#x2F;Val&#43;ue",
        "Zq9-wsS3cret&sol;Val&plus;ue",
        "Zq9-wsS3cret&#x002F;Val+ue",
        "ZQ9-WSS3CRET&#X2F;VAL+UE",
    ):
        said = f"callee said: token {form} is revoked"
        assert scrub(said, [secret]) == f"callee said: token {MASK} is revoked", form


def test_a_secret_is_masked_with_references_escaped_again_or_inside_gos_json():
    secret = "ab/cd-Secret99"
    for form in (
        "ab&amp;#x2F;cd-Secret99",  # PHP's htmlspecialchars, run twice
        "ab\\u0026#x2F;cd-Secret99",  # Go's JSON of mustache.js's form
        "ab\\u0026amp;#47;cd-Secret99",
    ):
        assert scrub(f"x {form} y", [secret]) == f"x {MASK} y", form


def test_a_secret_of_non_ascii_letters_written_as_references_is_masked():
    # Python's ElementTree and xmlcharrefreplace write non-ASCII text so.
    secret = "пароль-ключ"
    written = secret.encode("ascii", "xmlcharrefreplace").decode()
    assert scrub(f"x {written} y", [secret]) == f"x {MASK} y"
    assert scrub({"v": [written]}, [secret]) == {"v": [MASK]}
    assert scrub("x &alpha;&beta;&gamma;&delta; y", ["αβγδ"]) == f"x {MASK} y"


def test_an_error_quoting_a_cut_secret_written_with_references_has_it_masked():
    secret = "ghp_ab/cdR4nd0mT0ken99"
    message = 'Unexpected token "ghp_ab&#x2F;cdR4n"... is not valid JSON'
    assert scrub_message(message, [secret]) == (
        f'Unexpected token "{MASK}"... is not valid JSON'
    )


def test_references_around_a_secret_and_in_other_text_are_left_as_they_are():
    secret = "Zq9-wsS3cret/Val+ue"
    text = "Straße &lt;b&gt; &#x2F; &nosuch; AT&T"
    assert scrub(text, [secret]) == text
    assert (
        scrub("Straße &lt;Zq9-wsS3cret&#x2F;Val+ue&gt; &sol;", [secret])
        == f"Straße &lt;{MASK}&gt; &sol;"
    )


def test_a_secret_shorter_than_four_characters_is_masked_only_where_it_is_a_whole_value():
    value = {"headers": {"server": "e"}, "pin": 123, "note": "the 123rd"}
    assert scrub(value, ["e", "123"]) == {
        "headers": {"server": MASK},
        "pin": MASK,
        "note": "the 123rd",
    }


def test_an_error_that_quotes_the_start_of_a_secret_cut_short_has_it_masked():
    secret = "ghp_R4nd0mT0kenValue1234567890abcdefXYZ"
    try:
        jq.compile(". + 1").input_value(secret).first()
    except ValueError as exc:
        jq_error = str(exc)
    assert "ghp_R4nd0mT0ken" in jq_error
    v8_error = "SyntaxError: Unexpected token 'g', \"ghp_R4nd0m\"... is not valid JSON"
    for message in (jq_error, v8_error):
        masked = scrub_message(message, [secret])
        assert "R4nd0m" not in masked and MASK in masked, masked


@pytest.mark.parametrize(
    "program",
    [
        ".pw | @uri | . + 1",
        ".pw | @html | . + 1",
        ".pw | @base64 | . + 1",
        '"Basic " + ("user:" + .pw | @base64) | . - 1',
        ".pw | ascii_upcase | . + 1",
        "{t: .pw} | tojson | tojson | . + 1",
    ],
)
def test_an_error_quoting_a_cut_secret_in_another_form_has_it_masked(program):
    secret = 'Tr0ub4dor&3-horse/staple+Q"and-more-words'
    try:
        jq.compile(program).input_value({"pw": secret}).first()
    except ValueError as exc:
        message = str(exc)
    assert "..." in message
    assert scrub_message(message, [secret]).count(MASK) == 1, message


@pytest.mark.parametrize(
    "secret, message",
    [
        ("password-Blue-77", "Login failed: wrong password"),
        ("https://hooks.slack.com/T0/B0/x", "Expected a URL such as https://..."),
        ("github_pat_11AAbbCCdd", "Token must look like github_pat_..."),
        ("Summer2024!x", "Season not open: Summer2024"),
    ],
)
def test_an_error_merely_using_a_word_a_secret_starts_with_is_left_alone(
    secret, message
):
    assert scrub_message(message, [secret]) == message


def test_a_short_non_ascii_secret_is_masked_as_a_whole_value_inside_objects():
    assert scrub({"a": ["密码锁"], "b": "pä3"}, ["密码锁", "pä3"]) == {
        "a": [MASK],
        "b": MASK,
    }


def test_a_numeric_secret_is_masked_as_a_float_and_without_its_leading_zero():
    value = {"f": 987654.0, "z": 427, "n": 4270, "d": 1.5}
    assert scrub(value, ["987654", "0427", "1.50"]) == {
        "f": MASK,
        "z": MASK,
        "n": 4270,
        "d": MASK,
    }


def test_a_secret_url_encoded_then_in_base64_is_masked_as_oauths_client_secret_basic():
    secret = "Tr0ub4dor&3-horse"
    basic = base64.b64encode(f"client:{quote_plus(secret)}".encode()).decode()
    assert MASK in scrub(f"Basic {basic}", [secret])


def test_a_cut_secret_quoted_in_json_text_is_masked_whatever_quotes_came_before():
    secret = "Vault-Rotation-Pass-2026-xyz"
    for message in (
        json.dumps({"error": 'password "Vault-Rotation-..." is too common'}),
        'he said 5" then "Vault-Rotation-..."',
        str({"n": '5"', "t": "Vault-Rotation-P..."}),
        json.dumps({"error": '"Vault-Rota"... is not valid JSON'}),
        "token 'Vault-Rotation-...' rejected",
        "<p>password &quot;Vault-Rotation-...&quot; is too common</p>",
        "q=%22Vault-Rotation-...%22",
    ):
        masked = scrub_message(message, [secret])
        assert "Rotation" not in masked and MASK in masked, message
