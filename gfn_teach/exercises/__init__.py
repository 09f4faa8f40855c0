"""Checkers for the book's exercises: each prints ``Correct!`` or ``Not yet: <hint>``.

Every checker tests the reader's answer against an independent computation and returns
``True`` or ``False`` as well as printing, so a notebook cell can run it on a solution.
"""

from ._check import report as report
from .basics import check_background_r0 as check_background_r0
from .basics import check_backward_policy as check_backward_policy
from .basics import check_forward_valid as check_forward_valid
from .basics import check_random_walk as check_random_walk
from .enumeration import check_log_partition as check_log_partition
from .evaluation import check_kl_divergence as check_kl_divergence
from .evaluation import check_masked_log_pb as check_masked_log_pb
from .evaluation import check_noise_floor as check_noise_floor
from .losses import check_db_residual as check_db_residual
from .mcmc import check_mh_acceptance as check_mh_acceptance
from .tempered import check_tempered_target as check_tempered_target
from .offpolicy import check_conditional_tv as check_conditional_tv
from .losses import check_log_inflow as check_log_inflow
from .losses import check_tb_residual as check_tb_residual
from .environments import check_wings_first as check_wings_first
