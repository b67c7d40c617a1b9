"""Background jobs (pre-training, fine-tuning): launch detached, follow, cancel, resume.

One part shared by the dashboard and the CLI: `launch` starts `python -m core train …` or the
fine-tuning worker in its own session, `follow` reads its state and progress from disk from any
process, `files` says where those files live, `config` holds the knobs a page may set.
"""

from core.jobs.config import DERIVED_TARGETS, TRAIN_PRESETS, FineTuneJobConfig, TrainJobConfig
from core.jobs.files import (
    job_file,
    jobs_dir,
    log_file,
    progress_file,
    read_job,
    status_file,
)
from core.jobs.follow import (
    ACTIVE_STATES,
    JobStatus,
    is_alive,
    job_status,
    list_jobs,
    read_progress,
    wait,
)
from core.jobs.launch import (
    cancel,
    job_config,
    resume,
    spawn,
    start_finetune,
    start_training,
)

__all__ = [
    "ACTIVE_STATES",
    "DERIVED_TARGETS",
    "TRAIN_PRESETS",
    "FineTuneJobConfig",
    "JobStatus",
    "TrainJobConfig",
    "cancel",
    "is_alive",
    "job_config",
    "job_file",
    "job_status",
    "jobs_dir",
    "list_jobs",
    "log_file",
    "progress_file",
    "read_job",
    "read_progress",
    "resume",
    "spawn",
    "start_finetune",
    "start_training",
    "status_file",
    "wait",
]
