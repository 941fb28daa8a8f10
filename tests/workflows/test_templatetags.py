from workflows.templatetags.workflow_tags import markdown, status_badge


def test_markdown_renders_and_strips_scripts():
    html = markdown("**Deployed** [link](https://example.com)<script>alert(1)</script>")
    assert "<strong>Deployed</strong>" in html
    assert 'href="https://example.com"' in html
    assert "<script>" not in html


def test_markdown_drops_javascript_links():
    assert "javascript:" not in markdown("[x](javascript:alert(1))")


def test_status_badges_have_a_class_for_every_run_status():
    assert status_badge("COMPLETED") == "text-bg-success"
    assert status_badge("FAILED") == "text-bg-danger"
    assert status_badge("nonsense") == "text-bg-light border"
