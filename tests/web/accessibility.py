"""axe-core (from npm, node_modules/axe-core) run in the page under test.

The script is injected by the test, never served by QueryBase: it is a test tool, not part
of the dashboard. A page state passes when axe finds no critical or serious violation of
WCAG 2.0/2.1/2.2 A and AA (contrast, names, labels, roles, keyboard reach)."""

from pathlib import Path

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("critical", "serious")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_violations(page, within: str | None = None) -> list[dict]:
    """Critical and serious violations on the page as it is now (or in the part `within`
    selects: on a page whose frame is not ours, such as Django admin's)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated, not added as a <script>: the page's Content-Security-Policy refuses
        # inline scripts, and the test's own tool must not need a hole in it.
        page.evaluate(AXE.read_text())
    # The page's Content-Security-Policy refuses the <style> elements axe adds while it runs:
    # the violation watch (conftest.watch_for_csp_violations) looks away until their events
    # have been dispatched, a moment after the run.
    found = page.evaluate(
        """async ([tags, within]) => {
          window.qbAxeRunning = true;
          try {
            return (await axe.run(within ? { include: [within] } : document,
                                  { runOnly: { type: "tag", values: tags } })).violations;
          } finally {
            await new Promise((resolve) => setTimeout(resolve, 100));
            window.qbAxeRunning = false;
          }
        }""",
        [TAGS, within],
    )
    return [
        {
            "rule": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"]][:8],
            "why": violation["nodes"][0]["failureSummary"][:300],
        }
        for violation in found
        if violation["impact"] in FAILING_IMPACTS
    ]


def assert_accessible(page, state: str, within: str | None = None) -> None:
    violations = axe_violations(page, within)
    assert violations == [], f"axe-core: critical or serious violations in {state}: {violations}"
