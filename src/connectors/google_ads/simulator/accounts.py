"""Who may call and on whose behalf: Cloud projects, Google Ads accounts and their users.

* A **Cloud project** owns the OAuth client or service account; its quotas are counted per
  project (reference §4.8). A project can have the Data Manager API disabled (403
  ``SERVICE_DISABLED``) or be left off an allowlist (``NOT_ALLOWLISTED``).
* A **Google Ads account** (10 digits) may be managed by a manager account, itself an account.
  The caller's Google account or service-account email (its *principal*) must be a user of the
  account it names: either of the operating account itself, or of the ``loginAccount`` (the
  ``login-account`` header on user-list calls) when that is the operating account or one of its
  managers (§4.1, §4.4).
* An account that has not made the EU political-ads declaration cannot receive members
  (``EU_POLITICAL_ADVERTISING_DECLARATION_REQUIRED``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import ApiError, permission_denied

__all__ = ["AdsAccount", "Directory", "Project"]

_ACCOUNT_ID = re.compile(r"\d{10}")
_DISABLED = (
    "Data Manager API has not been used in project {number} before or it is disabled. Enable it "
    "by visiting https://console.developers.google.com/apis/api/datamanager.googleapis.com/"
    "overview?project={number} then retry. If you enabled this API recently, wait a few minutes "
    "for the action to propagate to our systems and retry."
)


@dataclass
class Project:
    """A Google Cloud project: the quota owner of every call made with its credentials."""

    project_id: str
    number: int
    api_enabled: bool = True
    allowlisted: bool = True


@dataclass
class AdsAccount:
    """A Google Ads account: its users (principals) and its manager, if any."""

    account_id: str
    manager_id: str | None = None
    users: set[str] = field(default_factory=set)
    eu_political_ads_declared: bool = True


class Directory:
    """Projects and accounts, and the access checks made on every call."""

    def __init__(self) -> None:
        self.projects: dict[str, Project] = {}
        self.accounts: dict[str, AdsAccount] = {}

    # -- set-up ----------------------------------------------------------------------------------

    def add_project(
        self,
        project_id: str,
        *,
        number: int | None = None,
        api_enabled: bool = True,
        allowlisted: bool = True,
    ) -> Project:
        """Add (or replace) a Cloud project; numbers default to 100000000001, 100000000002, …"""
        if number is None:
            number = 100_000_000_001 + len(self.projects)
        project = Project(project_id, number, api_enabled, allowlisted)
        self.projects[project_id] = project
        return project

    def add_account(
        self,
        account_id: str,
        *,
        manager_id: str | None = None,
        users: tuple[str, ...] | list[str] = (),
        eu_political_ads_declared: bool = True,
    ) -> AdsAccount:
        """Add a Google Ads account (10 digits); ``manager_id`` must already exist."""
        if not _ACCOUNT_ID.fullmatch(account_id):
            raise ValueError(f"a Google Ads account id is 10 digits, not {account_id!r}")
        if manager_id is not None and manager_id not in self.accounts:
            raise ValueError(f"unknown manager account {manager_id}")
        account = self.accounts.get(account_id) or AdsAccount(account_id)
        account.manager_id = manager_id
        account.users.update(users)
        account.eu_political_ads_declared = eu_political_ads_declared
        self.accounts[account_id] = account
        return account

    def grant(self, principal: str, account_id: str) -> None:
        """Make ``principal`` a user of the account."""
        self.accounts[account_id].users.add(principal)

    # -- checks ----------------------------------------------------------------------------------

    def project_problem(self, project_id: str) -> ApiError | None:
        """403 when the project is unknown, has the API disabled or is not allowlisted."""
        project = self.projects.get(project_id)
        if project is None:
            return permission_denied(
                f"Project '{project_id}' not found or permission denied.",
                reason="USER_PROJECT_DENIED",
            )
        if not project.api_enabled:
            number = project.number
            return ApiError(
                403,
                message=_DISABLED.format(number=number),
                reason="SERVICE_DISABLED",
                domain="googleapis.com",
                metadata={
                    "consumer": f"projects/{number}",
                    "service": "datamanager.googleapis.com",
                    "serviceTitle": "Data Manager API",
                    "containerInfo": str(number),
                    "activationUrl": "https://console.developers.google.com/apis/api/"
                    f"datamanager.googleapis.com/overview?project={number}",
                },
                request_info=False,
            )
        return None

    def managers_of(self, account_id: str) -> list[str]:
        """The account's manager, the manager's manager, … (nearest first)."""
        chain: list[str] = []
        current = self.accounts.get(account_id)
        while current is not None and current.manager_id is not None:
            if current.manager_id in chain:  # a cycle: stop
                break
            chain.append(current.manager_id)
            current = self.accounts.get(current.manager_id)
        return chain

    def check_access(self, principal: str, operating_id: str, login_id: str | None) -> None:
        """Raise 403 unless ``principal`` reaches ``operating_id`` (through ``login_id``)."""
        operating = self.accounts.get(operating_id)
        if operating is None:
            raise permission_denied(
                f"The caller does not have permission to access account {operating_id}."
            )
        if login_id is None or login_id == operating_id:
            if principal not in operating.users:
                raise permission_denied(
                    f"The caller does not have permission to access account {operating_id}."
                )
            return
        login = self.accounts.get(login_id)
        if login is None or principal not in login.users:
            raise permission_denied(
                f"The caller does not have permission to access login account {login_id}."
            )
        if login_id not in self.managers_of(operating_id):
            raise permission_denied(
                f"Login account {login_id} does not manage operating account {operating_id}.",
                reason="OPERATING_ACCOUNT_LOGIN_ACCOUNT_MISMATCH",
            )
