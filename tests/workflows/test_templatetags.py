from workflows.templatetags.workflow_tags import (
    block_type,
    markdown,
    markdown_inline,
    status_badge,
)


def test_markdown_renders_and_strips_scripts():
    html = markdown("**Deployed** [link](https://example.com)<script>alert(1)</script>")
    assert "<strong>Deployed</strong>" in html
    assert 'href="https://example.com"' in html
    assert "<script>" not in html


def test_markdown_makes_no_javascript_links():
    for text in ("[x](javascript:alert(1))", '<a href="javascript:alert(1)">x</a>'):
        html = markdown(text)
        assert "<a" not in html or 'href="javascript:' not in html
        assert "href=" not in html


def test_markdown_is_commonmark_a_list_right_after_a_line_of_text_is_a_list():
    """Python-Markdown wanted a blank line first: Cortex's templates rendered as one paragraph."""
    html = markdown("Next steps:\n- Open the repo\n- Add content\n  - nested")
    assert html == (
        "<p>Next steps:</p>\n<ul>\n<li>Open the repo</li>\n<li>Add content\n"
        "<ul>\n<li>nested</li>\n</ul>\n</li>\n</ul>"
    )


def test_status_badges_have_a_class_for_every_run_status():
    assert status_badge("COMPLETED") == "text-bg-success"
    assert status_badge("FAILED") == "text-bg-danger"
    assert status_badge("nonsense") == "text-bg-light border"


def test_a_long_block_type_may_wrap_after_its_underscores():
    assert block_type("GITHUB_CREATE_OR_UPDATE_FILE") == (
        "GITHUB_<wbr>CREATE_<wbr>OR_<wbr>UPDATE_<wbr>FILE"
    )
    assert block_type("JQ") == "JQ"


def test_a_block_type_is_escaped():
    assert block_type("<b>_X") == "&lt;b&gt;_<wbr>X"


def test_inline_markdown_keeps_code_and_emphasis_and_flattens_the_rest():
    html = markdown_inline(
        "# Deploy\n\nPass `ctx` **now**, see [docs](https://x.test)."
    )
    assert html == "Deploy\nPass <code>ctx</code> <strong>now</strong>, see docs."


def test_inline_markdown_strips_scripts():
    assert "<script" not in markdown_inline("<script>alert(1)</script>hi")


def test_a_masked_secret_shows_as_it_is_not_as_markdown():
    html = str(markdown("- ********\n\nToken: ************\n\n`********`"))
    assert "<hr" not in html
    assert "<li>********</li>" in html
    assert "<strong>********</strong>" in html  # **{{secret}}**: bold, masked
    assert "<code>********</code>" in html
    assert str(markdown_inline("a ******** b")) == "a ******** b"


def test_a_link_to_an_entity_in_cortexs_app_leads_to_its_page_here():
    # As the create-environment example's response writes it:
    html = markdown(
        "[View entity](https://app.getcortexapp.com/admin?tag=aws-prod-us) · "
        "[Deploys](https://APP.getcortexapp.com/admin/resources?tag=pay%2Fments&x=1)"
    )
    assert 'href="/catalog/aws-prod-us/"' in html
    assert 'href="/catalog/pay/ments/"' not in html  # a tag with a slash: no page
    assert "getcortexapp.com/admin/resources?tag=pay%2Fments" in html


def test_other_links_and_cortex_links_without_an_entity_are_left_alone():
    html = markdown(
        "[Docs](https://docs.cortex.io/x?tag=a) [Home](https://app.getcortexapp.com/admin)"
    )
    assert 'href="https://docs.cortex.io/x?tag=a"' in html
    assert 'href="https://app.getcortexapp.com/admin"' in html


def test_cortex_app_hosts_is_a_setting(settings):
    settings.CORTEX_APP_HOSTS = []
    html = markdown("[View](https://app.getcortexapp.com/admin?tag=aws-prod-us)")
    assert 'href="https://app.getcortexapp.com/admin?tag=aws-prod-us"' in html


def test_markdown_under_a_section_heading_starts_its_headings_below_it():
    html = markdown("# Deployed\n\n## Links\n\n##### Small\n\n###### Smaller", 3)
    assert html.split("\n") == [
        "<h3>Deployed</h3>",
        "<h4>Links</h4>",
        "<h6>Small</h6>",
        "<h6>Smaller</h6>",
    ]
    assert markdown("# Top") == "<h1>Top</h1>"
