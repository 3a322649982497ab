"""Teaching: the lesson runner and its profiles (:mod:`~stylelab.teaching.lesson`), the papers'
figures and settings (:mod:`~stylelab.teaching.paper`), the exercises' checkers
(:mod:`~stylelab.teaching.exercises`), where the lesson notebooks are
(:mod:`~stylelab.teaching.notebooks`), copying them for a student
(:mod:`~stylelab.teaching.lessons`), the course editions (:mod:`~stylelab.teaching.course`)
and running them all into a gallery (:mod:`~stylelab.teaching.reproduce`)."""
