"""The verdict of `leadscore monitor` in words, each finding with the command that acts on it:
ranking fell -> retrain; calibration drifted in a segment -> recalibrate from the period it
drifted in (also when the pooled ranking fell with it and no input drifted: a segment whose
probabilities moved ranks its leads wrongly against the others', which the per-segment map repairs;
retrain if the ranking stays down); inputs drifted -> check the CRM export, then retrain; the
rules answered too often -> look at the service and its model; nothing fired -> "nothing to do". What the data cannot
support (too few rows, too few decisions) is said after it, never as a figure."""

from __future__ import annotations

from dataclasses import dataclass

from monitoring.alerts import Alert, day, since_words

NOTHING = "nothing to do"


@dataclass(frozen=True)
class Where:
    """What the commands name: the data folder (`--data`; "DIR" when monitoring read the service's
    store, whose history folder monitor does not know) and the feedback store ("default" or a URL
    without its password)."""

    data: str | None = None
    feedback_db: str | None = "default"
    model_uri: str | None = None  # the monitored version when it is not @champion (recalibrate's default)

    def retrain(self) -> str:
        store = f" --feedback-db {self.feedback_db}" if self.feedback_db else ""
        return f"leadscore retrain --data {self.data or 'DIR'}{store}"

    def recalibrate(self, since) -> str:
        start = f" --since {day(since)}" if day(since) else ""
        source = f"--feedback-db {self.feedback_db}" if self.feedback_db else f"--data {self.data or 'DIR'}"
        version = f" --model-uri {self.model_uri}" if self.model_uri else ""
        return f"leadscore recalibrate{start} {source}{version}"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def findings(alerts: list[Alert], where: Where) -> list[str]:
    """The verdict's sentences, most pressing first; ["nothing to do"] when no alert fired."""
    kinds = {kind: [a for a in alerts if a.kind == kind] for kind in ("drift", "calibration", "ranking")}
    fields = [name for a in kinds["drift"] for name in a.names]
    out = []
    if kinds["ranking"] and kinds["calibration"] and not fields:
        # no input drifted: the pooled ranking fell with the calibration of some segments (a segment's
        # probabilities too low for its acceptance rank its leads below others'); a recalibration
        # with a map per segment repairs both, in seconds; retrain only if the ranking stays down
        ranking = kinds["ranking"][0]
        said = "estimated " if ranking.detail.get("kind") == "estimated" else ""
        out.append(
            f"{_calibration(kinds['calibration'], where)}; the ranking fell with it ({said}ROC AUC "
            f"{ranking.detail['auc']:.2f} from {ranking.detail['from']:.2f}) while no input drifted: recalibrate "
            f"first; if the ranking stays down, `{where.retrain()}`"
        )
        kinds["calibration"] = []
    elif kinds["ranking"]:
        ranking = kinds["ranking"][0]
        moved = f" and {_count(len(fields), 'feature')} drifted ({', '.join(fields)})" if fields else ""
        said = "estimated " if ranking.detail.get("kind") == "estimated" else ""
        out.append(
            f"ranking fell{moved} ({said}ROC AUC {ranking.detail['auc']:.2f} from {ranking.detail['from']:.2f}): "
            f"`{where.retrain()}`"
        )
    elif fields:
        since = min(a.since for a in kinds["drift"] if a.since is not None) if kinds["drift"][0].since else None
        out.append(
            f"{_count(len(fields), 'feature')} drifted ({', '.join(fields)}){since_words(since)} "
            "while the ranking holds: "
            f"check the CRM export for a change in {'it' if len(fields) == 1 else 'them'}; if the leads really "
            f"changed, `{where.retrain()}`"
        )
    if kinds["calibration"] and not kinds["ranking"]:
        out.append(_calibration(kinds["calibration"], where))
    for alert in alerts:
        if alert.kind == "fallback":
            out.append(
                f"the rules answered {alert.detail['share']:.0%} of leads{since_words(alert.since)}: "
                "the model could not; "
                "see the service's log and `leadscore models` for the version it serves"
            )
        elif alert.kind == "volume" and not (kinds["drift"] or kinds["ranking"]):
            out.append(
                f"model MQLs {alert.detail['factor']:.1f} times the volume the thresholds promised"
                f"{since_words(alert.since)}: sales capacity and the thresholds no longer match; `{where.retrain()}` "
                "sets them again on the newest data"
            )
    return out or [NOTHING]


def _calibration(alerts: list[Alert], where: Where) -> str:
    """The calibration finding: the segments, their ECE, and the recalibration from the earliest."""
    starts = [a.since for a in alerts if a.since is not None]
    said = ", ".join(f"{a.names[0]} (ECE {a.detail['ece']:.2f} from {a.detail['from']:.2f})" for a in alerts)
    return f"calibration drift in {said}: `{where.recalibrate(min(starts) if starts else None)}`"


def sentence(alerts: list[Alert], where: Where, notes: list[str]) -> str:
    """The verdict as one paragraph: the findings, then what cannot be said."""
    said = "; ".join(findings(alerts, where))
    said = said[:1].upper() + said[1:] + "."
    return said + ("" if not notes else " " + " ".join(notes))
