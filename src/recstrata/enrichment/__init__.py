"""Layer 2: offline, resumable LLM enrichment (item attributes, taste profiles, hard negatives).

Depends only on ``recstrata.data`` and ``recstrata.llm``. Results live in a content-hash keyed
SQLite store (:class:`EnrichmentStore`); :func:`run_job` runs any job over a dataset and skips
what is already stored; :mod:`recstrata.enrichment.features` turns results into model inputs.
"""

from recstrata.enrichment.features import item_tag_matrix, negative_pairs, user_genre_matrix
from recstrata.enrichment.items import ItemAttributes, ItemAttributesJob
from recstrata.enrichment.jobs import Job, JobReport, Rejected, Task, iter_outputs, run_job
from recstrata.enrichment.negatives import HardNegativeJob, NegativePicks
from recstrata.enrichment.store import EnrichmentStore, result_key
from recstrata.enrichment.tags import TagVocabulary, normalise_tag
from recstrata.enrichment.users import TasteProfile, UserProfileJob

JOBS = {"items": ItemAttributesJob, "users": UserProfileJob, "negatives": HardNegativeJob}

__all__ = [
    "EnrichmentStore", "result_key", "Job", "JobReport", "Rejected", "Task", "run_job", "iter_outputs",
    "ItemAttributes", "ItemAttributesJob", "TasteProfile", "UserProfileJob", "HardNegativeJob",
    "NegativePicks", "TagVocabulary", "normalise_tag", "item_tag_matrix", "negative_pairs", "user_genre_matrix",
    "JOBS",
]
