from django import forms

from apps.core.text import NameField
from apps.projects.services import PROJECT_NAME_MAX_LENGTH


class ProjectForm(forms.Form):
    name = NameField(what="project name", max_length=PROJECT_NAME_MAX_LENGTH)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
