"""What talks to AWS: regions, prices, quotas, images, key pairs, the security group, launch,
the lifecycle calls and the listings. Each module takes an ``Aws`` (``cloud/aws.py``) and plain
arguments and returns ``tui.models`` dataclasses; errors are ``services/errors.py`` exceptions."""
