"""Check outcomes as JUnit XML, which CI systems display as test results.

One test case per input and rule (a rule applied to several labels fails if
any label fails); inputs that could not be explained appear as errors.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import OrderedDict

from lime_cli.checks import CheckOutcome


def to_junit_xml(outcomes: list[CheckOutcome], errors: list[tuple[str, str]], suite: str) -> str:
    """The XML document; ``errors`` are (input, message) for inputs that failed outright."""
    cases: OrderedDict[tuple[str, str], list[CheckOutcome]] = OrderedDict()
    for outcome in outcomes:
        key = (outcome.input, _rule_name(outcome))
        cases.setdefault(key, []).append(outcome)
    failures = sum(1 for group in cases.values() if not all(o.passed for o in group))
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(cases) + len(errors)),
        failures=str(failures),
        errors=str(len(errors)),
    )
    for (input_name, rule), group in cases.items():
        case = ET.SubElement(root, "testcase", classname=_clean(input_name), name=_clean(rule))
        failed = [o for o in group if not o.passed]
        if failed:
            node = ET.SubElement(case, "failure", message=_clean(failed[0].message))
            node.text = _clean("\n".join(f"label {o.label!r}: {o.message}" for o in failed))
    for input_name, message in errors:
        case = ET.SubElement(root, "testcase", classname=_clean(input_name), name="explain")
        ET.SubElement(case, "error", message=_clean(message))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _rule_name(outcome: CheckOutcome) -> str:
    return outcome.rule if outcome.feature is None else f"{outcome.rule} {outcome.feature}"


#: Characters XML 1.0 cannot carry at all (ElementTree would write them as they are).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)
