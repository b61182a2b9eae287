"""The vocabulary of the synthetic CRM world: segments, industries, titles, channels, assets.

Kept apart from the generator so that the generator's code reads as the causal story and this
file as the catalogue it draws from. Every weight here is a share, not a count.
"""

from __future__ import annotations

import numpy as np

SEGMENTS = ("smb", "mid_market", "enterprise")
# share of new leads per segment at the start and at the end of the period (drift towards SMB)
SEGMENT_SHARE_START = np.array([0.42, 0.35, 0.23])
SEGMENT_SHARE_END = np.array([0.56, 0.29, 0.15])
SEGMENT_ACCOUNTS = np.array([0.62, 0.27, 0.11])  # share of accounts
SEGMENT_SIZE_RANGE = ((5, 199), (200, 999), (1000, 60000))
SEGMENT_DEPTH = np.array([1.0, 1.15, 1.3])  # engagement depth: bigger buyers research more
SEGMENT_TRIAL = np.array([1.0, 0.55, 0.25])  # propensity to self-serve a trial
SEGMENT_ACCEPT = np.array([-0.25, 0.1, 0.35])  # sales' appetite by segment (logit offset)

INDUSTRIES = (
    "software",
    "financial_services",
    "healthcare",
    "manufacturing",
    "retail",
    "education",
    "government",
    "media",
    "professional_services",
    "nonprofit",
    "telecommunications",
)
INDUSTRY_SHARE = np.array([0.2, 0.12, 0.1, 0.1, 0.1, 0.07, 0.05, 0.07, 0.1, 0.04, 0.05])
ICP_INDUSTRIES = ("software", "financial_services", "healthcare", "manufacturing")

REGIONS = ("north_america", "emea", "apac", "latam")
REGION_SHARE = np.array([0.45, 0.3, 0.17, 0.08])
ICP_REGIONS = ("north_america", "emea")
COUNTRIES = (
    ("United States", "Canada"),
    ("United Kingdom", "Germany", "France", "Netherlands", "Sweden", "Spain"),
    ("India", "Australia", "Singapore", "Japan"),
    ("Brazil", "Mexico", "Argentina"),
)

DEPARTMENTS = ("marketing", "sales", "operations", "engineering", "it", "finance", "hr", "executive")
DEPARTMENT_SHARE = np.array([0.26, 0.18, 0.1, 0.16, 0.1, 0.08, 0.07, 0.05])
ICP_DEPARTMENTS = ("marketing", "sales", "operations", "executive")

SENIORITIES = ("c_level", "vp", "director", "manager", "individual_contributor", "intern", "student")
# per segment: how senior the people who fill in forms are
SENIORITY_SHARE = np.array(
    [
        [0.10, 0.08, 0.12, 0.25, 0.42, 0.03, 0.0],
        [0.04, 0.08, 0.15, 0.28, 0.43, 0.02, 0.0],
        [0.02, 0.06, 0.15, 0.30, 0.45, 0.02, 0.0],
    ]
)
PERSONAL_SENIORITY_SHARE = np.array([0.0, 0.0, 0.0, 0.0, 0.3, 0.15, 0.55])
SENIORITY_FIT = np.array([0.7, 1.0, 0.9, 0.5, -0.3, -1.6, -3.0])

# title templates per seniority; "{d}" is the department as people write it
TITLES = (
    ("Chief {D} Officer", "C{DA}O", "CEO", "Founder & CEO", "Co-founder"),
    ("VP {D}", "VP of {D}", "Vice President, {D}", "SVP {D}", "V.P. {D}"),
    ("Director of {D}", "{D} Director", "Dir. {D}", "Head of {D}", "Sr. Director, {D}"),
    ("{D} Manager", "Senior {D} Manager", "Mgr, {D}", "{D} Team Lead", "Manager - {D}"),
    ("{D} Specialist", "{D} Analyst", "{D} Associate", "{D} Coordinator", "Senior {D} Specialist"),
    ("{D} Intern", "Intern, {D}", "Summer Intern", "{D} Trainee", "Working Student"),
    ("Student", "MBA Student", "PhD student", "Undergraduate", "Graduate Student"),
)
DEPARTMENT_WORDS = {
    "marketing": ("Marketing", "M"),
    "sales": ("Sales", "S"),
    "operations": ("Revenue Operations", "R"),
    "engineering": ("Engineering", "T"),
    "it": ("IT", "I"),
    "finance": ("Finance", "F"),
    "hr": ("People", "P"),
    "executive": ("Strategy", "S"),
}

PERSONAL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me")
SPAM_DOMAINS = ("mailinator.com", "test.com", "example.org", "asdf.net")
SPAM_TITLES = ("asdf", "test", "n/a", "xxx", "-")
COMPETITOR_DOMAINS = ("rivalscore.io", "funnelforge.com", "pipemetric.ai")
NAME_PARTS = (
    ("north", "blue", "bright", "iron", "silver", "green", "swift", "summit", "clear", "nova"),
    ("wind", "peak", "stone", "field", "bridge", "line", "works", "labs", "logic", "point"),
)

SOURCES = (
    "organic_search",
    "paid_search",
    "paid_social",
    "content_syndication",
    "webinar",
    "referral",
    "event",
    "direct",
)
# business leads at the start and end of the period, and personal leads (drift to paid social)
SOURCE_SHARE_START = np.array([0.22, 0.18, 0.08, 0.12, 0.1, 0.08, 0.1, 0.12])
SOURCE_SHARE_END = np.array([0.18, 0.16, 0.2, 0.14, 0.08, 0.06, 0.08, 0.1])
PERSONAL_SOURCE_SHARE = np.array([0.3, 0.1, 0.35, 0.15, 0.05, 0.0, 0.0, 0.05])
SOURCE_ACCEPT = np.array([0.1, 0.0, -0.35, -0.45, 0.05, 0.55, 0.15, 0.2])

PAGES = (
    "/",
    "/product",
    "/product/scoring",
    "/product/routing",
    "/integrations",
    "/customers",
    "/blog/mql-vs-sql",
    "/blog/lead-scoring-101",
    "/blog/intent-data",
    "/blog/career-advice",
    "/docs",
    "/security",
    "/about",
    "/careers",
)
ASSETS = (
    "ebook-lead-scoring-guide",
    "report-state-of-revops",
    "template-icp-worksheet",
    "whitepaper-intent-signals",
    "checklist-sales-handoff",
    "case-study-fintech",
)
WEBINARS = ("webinar-scoring-masterclass", "webinar-revops-roundtable", "webinar-product-tour")
