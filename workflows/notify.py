"""Tell people when a run needs them and when it ends: in-app notifications and email.

Recipients are the initiator and the run's `notificationRecipients` (emails);
approval requests go to the approvers, and the others hear that the run waits. Emails are handed to the process's mail
thread (`portal.mail`) once the transaction commits, and sent through Django's
email backend (console by default).
"""

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone
from django.utils.text import Truncator

from portal import mail, rawsql
from portal.models import User

from .models import Notification, Run, Step
from .selectors import version_name

_MESSAGE_CHARS = Notification._meta.get_field("message").max_length


def _recipients(run: Run) -> tuple[list[User], list[str]]:
    """(members to notify in-app, every email to write to)."""
    emails = {e.lower() for e in run.notification_recipients if isinstance(e, str)}
    users = (
        list(
            User.objects.filter(
                memberships__workspace=run.workspace_id,
                email__in=emails,
                is_active=True,
            )
        )
        if emails
        else []
    )
    if run.initiator is not None and run.initiator not in users:
        users.append(run.initiator)
    emails |= {u.email for u in users}
    return users, sorted(emails)


def _send(
    run: Run,
    users: list[User],
    emails: list[str],
    kind: str,
    message: str,
    *,
    why: str = "",
) -> None:
    """`message` in-app and by mail (its subject); `why`, any text, follows it
    in-app (cut to the field) and in the body of members' mails: a run's error
    may name URLs and reasons that only its workspace should read."""
    shown = Truncator(f"{message}: {why}").chars(_MESSAGE_CHARS) if why else message
    rawsql.insert(
        [
            Notification(
                workspace_id=run.workspace_id,
                user=u,
                run=run,
                kind=kind,
                message=shown,
            )
            for u in users
        ]
    )
    if not emails:
        return
    url = f"{settings.BASE_URL}{run.get_absolute_url()}"
    subject = f"[Cairn] {message}"
    members = {u.email.lower() for u in users}
    plain = f"{message}\n\n{url}\n"
    told = f"{message}\n\n{why}\n\n{url}\n" if why else plain
    messages = [
        EmailMessage(subject, told if e.lower() in members else plain, to=[e])
        for e in emails
    ]
    transaction.on_commit(lambda: mail.send_later(messages))


def _name(run: Run) -> str:
    """Which run: "Deploy #42 on payments-api" (several runs of one workflow
    made identical notifications)."""
    # A workflow renamed since keeps its old name on its old runs, as on the pages:
    name = f"{version_name(run)} #{run.pk}"
    # The run state names the entity: no query for it on the engine's path.
    entity = (run.state.get("context") or {}).get("entity") or {}
    where = entity.get("name") or entity.get("tag")  # named as the pages name it
    return f"{name} on {where}" if where else name


def run_waiting(run: Run, step: Step, waiting_for: str) -> None:
    name = _name(run)
    if waiting_for == "MANUAL_APPROVAL":
        from .engine import approvers

        people = approvers(run, step)
        _send(
            run,
            people,
            [u.email for u in people],
            "NEEDS_APPROVAL",
            f"{name} needs your approval",
        )
        # The initiator and recipients hear that it waits, unless they are
        # asked to approve it themselves:
        users, emails = _recipients(run)
        asked = {u.email.lower() for u in people}
        _send(
            run,
            [u for u in users if u.email.lower() not in asked],
            [e for e in emails if e.lower() not in asked],
            "AWAITING_APPROVAL",
            f"{name} is waiting for approval",
        )
        return
    users, emails = _recipients(run)
    if waiting_for == "USER_INPUT":
        from .engine import may_complete_input

        # Asked: who may fill the form in. The others (a Viewer among the
        # recipients, an outside address) hear that it waits.
        asked = [u for u in users if may_complete_input(run, u)]
        addresses = {u.email.lower() for u in asked}
        _send(
            run,
            asked,
            [e for e in emails if e.lower() in addresses],
            "NEEDS_INPUT",
            f"{name} is waiting for your input",
        )
        _send(
            run,
            [u for u in users if u not in asked],
            [e for e in emails if e.lower() not in addresses],
            "AWAITING_INPUT",
            f"{name} is waiting for input",
        )


def approvers_joined(team, users: list[User]) -> None:
    """Ask people just added to `team` for the approvals it already waits on:
    they would otherwise find them only under "Waiting for you". Not those who
    decided already or were asked already (through another approving team)."""
    from .engine import approving_team_ids, self_approval_prevented
    from .models import Decision

    joined = {u.pk: u for u in users}
    if not joined:
        return
    names = {team.tag, str(team.pk)}
    steps = [
        step
        for step in Step.objects.filter(
            run__workspace=team.workspace_id,
            run__status=Run.Status.PAUSED,
            status=Step.Status.WAITING,
            waiting_for="MANUAL_APPROVAL",
        ).select_related("run__workflow", "run__version", "run__workspace")
        if names & set(approving_team_ids(step.run, step))
    ]
    if not steps:
        return
    decided = set(
        Decision.objects.filter(step__in=steps, user__in=joined).values_list(
            "step_id", "user_id"
        )
    )
    asked = set(
        Notification.objects.filter(
            run__in={step.run_id for step in steps},
            user__in=joined,
            kind="NEEDS_APPROVAL",
        ).values_list("run_id", "user_id")
    )
    for step in steps:
        run = step.run
        own = run.initiator_id if self_approval_prevented(run, step) else None
        people = [
            user
            for pk, user in joined.items()
            if pk != own and (step.pk, pk) not in decided and (run.pk, pk) not in asked
        ]
        if people:
            message = f"{_name(run)} needs your approval"
            _send(run, people, [u.email for u in people], "NEEDS_APPROVAL", message)


def run_needs_initiator(run: Run) -> None:
    users, emails = _recipients(run)
    _send(
        run,
        users,
        emails,
        "NEEDS_INITIATOR",
        f"{_name(run)} needs an initiating user",
    )


def run_ended(run: Run) -> None:
    users, emails = _recipients(run)
    label = {"COMPLETED": "succeeded", "FAILED": "failed", "CANCELLED": "was canceled"}
    message = f"{_name(run)} {label.get(run.status, run.status.lower())}"
    why = run.error if run.status == "FAILED" else ""  # as the run page says it
    _send(run, users, emails, f"RUN_{run.status}", message, why=why)


def approval_given(run: Run, user: User) -> None:
    """Mark `user`'s request to decide on the run read: they have decided,
    though the step may still wait for others."""
    Notification.objects.filter(
        run=run, user=user, kind="NEEDS_APPROVAL", read_at__isnull=True
    ).update(read_at=timezone.now())


def requests_answered(run: Run) -> None:
    """Mark the run's unread requests (input, approval, initiator) read: the
    step no longer waits, or the run has ended."""
    Notification.objects.filter(
        run=run, kind__in=Notification.REQUESTS, read_at__isnull=True
    ).update(read_at=timezone.now())
