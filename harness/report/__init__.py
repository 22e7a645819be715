"""Reports: the result model, its writers (JSON, Markdown, HTML, JUnit) and compare.

``report.json`` (schema ``rnn-harness-report/2``) is the source of truth; the
other formats and comparisons are rendered from it.
"""

from harness.report.compare import (
    Comparison,
    StatusChange,
    VersionChange,
    compare_reports,
    render_compare_html,
    render_compare_markdown,
)
from harness.report.model import (
    SCHEMA,
    STATUSES,
    exit_code,
    load_report,
    merge_payloads,
    summarize,
    validate_report,
)
from harness.report.writers import (
    render_html,
    render_junit,
    render_markdown,
    write_all,
    write_json,
)

__all__ = [
    "SCHEMA",
    "STATUSES",
    "Comparison",
    "StatusChange",
    "VersionChange",
    "compare_reports",
    "exit_code",
    "load_report",
    "merge_payloads",
    "render_compare_html",
    "render_compare_markdown",
    "render_html",
    "render_junit",
    "render_markdown",
    "summarize",
    "validate_report",
    "write_all",
    "write_json",
]
