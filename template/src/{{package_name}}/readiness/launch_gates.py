"""The ten launch gates a service must clear, and the score each needs to launch."""

from enum import StrEnum


class Gate(StrEnum):
    """A launch gate. The value is the name tests give `pytest.mark.gate(...)`."""

    SECURITY = "security"
    AUTH = "auth"
    DATA_VALIDATION = "data_validation"
    ERROR_HANDLING = "error_handling"
    TESTING = "testing"
    OBSERVABILITY = "observability"
    PERFORMANCE = "performance"
    DEPLOYMENT = "deployment"
    MONITORING = "monitoring"
    COST_CONTROL = "cost_control"


TITLES: dict[Gate, str] = {
    Gate.SECURITY: "Security",
    Gate.AUTH: "Authentication and authorization",
    Gate.DATA_VALIDATION: "Data validation",
    Gate.ERROR_HANDLING: "Error handling",
    Gate.TESTING: "Testing",
    Gate.OBSERVABILITY: "Observability",
    Gate.PERFORMANCE: "Performance",
    Gate.DEPLOYMENT: "Deployment",
    Gate.MONITORING: "Monitoring and incident response",
    Gate.COST_CONTROL: "Cost control",
}

# A gate whose failure leaks data, lets strangers in, corrupts records, hides
# errors, cannot be rolled back or runs up the bill needs 4 of 5; the others 3.
MINIMUMS: dict[Gate, int] = {
    Gate.SECURITY: 4,
    Gate.AUTH: 4,
    Gate.DATA_VALIDATION: 4,
    Gate.ERROR_HANDLING: 4,
    Gate.TESTING: 3,
    Gate.OBSERVABILITY: 3,
    Gate.PERFORMANCE: 3,
    Gate.DEPLOYMENT: 4,
    Gate.MONITORING: 3,
    Gate.COST_CONTROL: 4,
}

MAX_SCORE = 5
