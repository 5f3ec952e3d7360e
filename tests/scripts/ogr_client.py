"""Drives the Pagure sandbox with ogr, the forge library packit-service uses for
Pagure, the way a developer would against `make run`; prints one JSON object of
what ogr saw. Run by tests/tests/pagure_sandbox.rs with the venv of
scripts/ogr-venv.sh: python ogr_client.py <pagure url> <token> <refused token>.
"""

import json
import sys

from ogr.abstract import CommitStatus
from ogr.exceptions import PagureAPIException
from ogr.services.pagure import PagureService
from urllib3.util import Retry

url, token, refused = sys.argv[1:4]
out = {}

service = PagureService(instance_url=url, token=token, insecure=True)
out["whoami"] = service.user.get_username()
# Without `username`, ogr asks whoami first, as packit-service does.
project = service.get_project(namespace="rpms", repo="optee_os")
out["default_branch"] = project.default_branch
out["branches"] = project.get_branches()
out["project_name"] = project.get_project_info()["name"]

pr = project.get_pr(2)
out["pr"] = {
    "title": pr.title,
    "status": pr.status.name,
    "author": pr.author,
    "target_branch": pr.target_branch,
    "head_commit": pr.head_commit,
    "url": pr.url,
}
answer = pr.set_flag(
    username="Fedora CI - ogr check",
    comment="Checked with ogr",
    url="https://fedora-ci.sandbox.example/pr/rpms/optee_os/2",
    status=CommitStatus.success,
    uid="0123456789abcdef0123456789abcdef",
)
out["set_flag"] = {"message": answer["message"], "uid": answer["uid"], "commit": answer["flag"]["commit_hash"]}
answer = pr.set_flag(
    username="Fedora CI - ogr check",
    comment="Checked again with ogr",
    url="https://fedora-ci.sandbox.example/pr/rpms/optee_os/2",
    status=CommitStatus.failure,
    uid="0123456789abcdef0123456789abcdef",
)
out["update_flag"] = answer["message"]
out["statuses"] = [
    {"context": s.context, "state": s.state.name, "comment": s.comment, "commit": s.commit, "url": s.url}
    for s in pr.get_statuses()
]
pr.comment("A comment from ogr")

# ogr retries a 401 with a 30 s backoff by default; no retries here, so the
# refusal itself is what ogr reports.
no_retries = Retry(total=0, raise_on_status=False)
try:
    PagureService(instance_url=url, token=refused, insecure=True, max_retries=no_retries).get_project(
        namespace="rpms", repo="optee_os", username="packit-ci"
    ).get_pr(2).set_flag(username="x", comment="x", url="https://example.org/x", status=CommitStatus.success)
    out["refused"] = None
except PagureAPIException as e:
    out["refused"] = {"code": e.response_code, "error": e.pagure_error, "message": str(e)}

try:
    project.get_pr(999)
    out["missing_pr"] = None
except PagureAPIException as e:
    out["missing_pr"] = {"code": e.response_code, "error": e.pagure_error}

print(json.dumps(out))
