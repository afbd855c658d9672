from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.accounts.models import Membership
from apps.catalog.models import MLApp
from apps.catalog.selectors import datasets_visible_to
from apps.catalog.services import dataset_add


def test_admin_adds_a_new_member_with_a_one_time_password(owner_client, owner):
    response = owner_client.post("/account/organization/", {"username": "newbie"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="new-password"' in body
    member = Membership.objects.get(user__username="newbie")
    assert member.organization == owner.membership.organization and member.role == "member"
    assert response["Cache-Control"] == "no-store"


def test_member_cannot_add_or_remove(client, colleague, owner):
    client.force_login(colleague)
    response = client.post("/account/organization/", {"username": "sneaky"})
    assert response.status_code == 403
    assert not Membership.objects.filter(user__username="sneaky").exists()
    removed = client.post(
        f"/account/organization/members/{owner.membership.pk}/remove/", follow=True
    )
    assert "Only organization admins can change members." in removed.content.decode()
    owner.membership.refresh_from_db()
    assert owner.membership.organization == colleague.membership.organization


def test_leaving_the_organization_hides_its_shared_datasets(
    owner_client, owner, colleague, catalog
):
    app = MLApp.objects.get(key="sentiment-analysis")
    shared = dataset_add(
        user=owner,
        name="team-data",
        ml_apps=[app],
        visibility="organization",
        uploads=[SimpleUploadedFile("t.txt", b"a\nb\n")],
    )
    assert datasets_visible_to(colleague).filter(pk=shared.pk).exists()
    response = owner_client.post(f"/account/organization/members/{colleague.membership.pk}/remove/")
    assert response.status_code == 302
    colleague.membership.refresh_from_db()
    assert colleague.membership.organization != owner.membership.organization
    assert not datasets_visible_to(colleague).filter(pk=shared.pk).exists()


def test_outsider_cannot_remove_members_of_another_org(outsider_client, colleague):
    response = outsider_client.post(
        f"/account/organization/members/{colleague.membership.pk}/remove/"
    )
    assert response.status_code == 404


def test_members_page_lists_the_organization(owner_client, colleague, outsider):
    body = owner_client.get("/account/organization/").content.decode()
    assert "colin" in body and "olivia" in body and "oscar" not in body


def test_an_admin_caps_a_members_running_jobs_and_a_member_cannot(
    owner_client, owner, colleague, client
):
    url = reverse("accounts:member_limit", args=[colleague.membership.pk])
    owner_client.post(url, {"max_running_jobs": "2"})
    colleague.membership.refresh_from_db()
    assert colleague.membership.max_running_jobs == 2
    page = owner_client.post(url, {"max_running_jobs": "0"}, follow=True).content.decode()
    assert "whole number from 1 to 1000" in page
    owner_client.post(url, {"max_running_jobs": ""})
    colleague.membership.refresh_from_db()
    assert colleague.membership.max_running_jobs is None

    client.force_login(colleague)
    mine = reverse("accounts:member_limit", args=[colleague.membership.pk])
    page = client.post(mine, {"max_running_jobs": "50"}, follow=True).content.decode()
    assert "Only organization admins" in page
    colleague.membership.refresh_from_db()
    assert colleague.membership.max_running_jobs is None
