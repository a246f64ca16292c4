"""CCC_NUMBER_INVALID: a claimed CCC certificate number that cannot be a real one.

A CCC certificate number is 16 digits: the year first issued (4), the certification body (2),
the product category (4) and a serial (6). A number given under a CCC/3C/证书 attribute key, or
right after 证书编号/证书号/3C/CCC in the text, is invalid when it is not exactly 16 digits or
its year is before ``first_year`` (CCC began in 2001/2002) or after the crawl year.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketguard.models import Flag
from matching.rules.base import ListingView, RuleText, Shared
from matching.rules.ccc_certificate import CccScanner
from matching.yaml_schema import Node

RULE_ID = "CCC_NUMBER_INVALID"
PARAMS_REQUIRED = ("digits", "first_year", "problems")
PARAMS_OPTIONAL: tuple[str, ...] = ()
PLACEHOLDERS = ("number", "problem")

PROBLEMS = {
    "not_digits": ("number",),
    "wrong_length": ("number", "length", "digits"),
    "year_too_early": ("number", "year", "first_year"),
    "year_in_future": ("number", "year", "crawl_year"),
}
# Optional: digits 7-10 against the catalogue's ccc_codes for the category (UNCONFIRMED codes, so
# the check runs only where rules.yaml gives its text and the catalogue lists codes).
OPTIONAL_PROBLEMS = {
    "category_code": ("number", "code", "codes", "category_name"),
    # Digits 5-6 name the certification body (01 = CQC); 00 names none.
    "body_code": ("number", "body"),
}


@dataclass(frozen=True, slots=True)
class ProblemText:
    zh: str
    en: str


class CccNumberRule:
    rule_id = RULE_ID

    def __init__(
        self,
        text: RuleText,
        scanner: CccScanner,
        *,
        digits: int,
        first_year: int,
        problems: dict[str, ProblemText],
    ) -> None:
        self.text = text
        self.scanner = scanner
        self.digits = digits
        self.first_year = first_year
        self.problems = problems

    def check(self, ctx: ListingView) -> Flag | None:
        crawl_year = ctx.crawl_date.year
        category = ctx.category
        for number in self.scanner.facts(ctx).numbers:
            problem = self.problem(number.token, crawl_year)
            if problem is None and "body_code" in self.problems and number.token[4:6] == "00":
                problem = "body_code", {"number": number.token, "body": "00"}
            if (
                problem is None
                and category is not None
                and category.ccc_codes
                and "category_code" in self.problems
                and not number.token[6:10].startswith(category.ccc_codes)
            ):
                problem = (
                    "category_code",
                    {
                        "number": number.token,
                        "code": number.token[6:10],
                        "codes": "/".join(category.ccc_codes),
                        "category_name": category.name,
                    },
                )
            if problem is None:
                continue
            kind, values = problem
            words = self.problems[kind]
            return self.text.flag(
                snippet=number.text,
                field=number.field,
                number=number.text,
                problem=words.zh.format(**values),
                en={"problem": words.en.format(**values)},
            )
        return None

    def problem(self, token: str, crawl_year: int) -> tuple[str, dict[str, object]] | None:
        """Why ``token`` (width-folded) is not a valid certificate number, or None."""
        if not (token.isascii() and token.isdigit()):
            return "not_digits", {"number": token}
        if len(token) != self.digits:
            return "wrong_length", {"number": token, "length": len(token), "digits": self.digits}
        year = int(token[:4])
        if year < self.first_year:
            return "year_too_early", {"number": token, "year": year, "first_year": self.first_year}
        if year > crawl_year:
            return "year_in_future", {"number": token, "year": year, "crawl_year": crawl_year}
        return None


def build(fields: dict[str, Node], text: RuleText, shared: Shared) -> CccNumberRule:
    problems_node = fields["problems"].fields(
        required=tuple(PROBLEMS), optional=tuple(OPTIONAL_PROBLEMS)
    )
    problems: dict[str, ProblemText] = {}
    for kind, placeholders in (PROBLEMS | OPTIONAL_PROBLEMS).items():
        if kind not in problems_node:
            continue
        pair = problems_node[kind].fields(required=("zh", "en"))
        problems[kind] = ProblemText(
            zh=pair["zh"].template(placeholders), en=pair["en"].template(placeholders)
        )
    return CccNumberRule(
        text,
        shared.scanner,
        digits=fields["digits"].integer(minimum=1),
        first_year=fields["first_year"].integer(minimum=1900),
        problems=problems,
    )
