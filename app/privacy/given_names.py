"""Common given names in the Nordic countries (and a few English ones), folded to lower case.

A name typed with no phrase before it ("Ola Nordmann lurer på …", "Mette Hansen ringte igjen")
cannot be told from other capitalised words by its shape. One of these names followed by a
capitalised surname is a person (people.py). Written by hand: names common among the generations
who call a customer centre, women's and men's, not a copy of a statistics office's list; not
exhaustive, and need not be: each name here is one more that is masked. Add the ones your centre
hears. Names that are also products people call about are left out (Siri, Alexa).
"""

from __future__ import annotations

_LISTED = """
    aase aasmund adam adrian agnes agnete aino akseli aksel alexander alf alfred alice alma amalie amanda
    amund anders andreas anette anita anja ann anna anne anneli annette annika ante antti are arild arne
    arnfinn arvid asbjørn asgeir aslak astrid atle audun aud axel ane
    benedicte bengt bent benjamin berit bernt birger birgit birgitta bjarne bjørg bjørn bo bodil borghild
    brage bård britt brita bente
    camilla carina carl caroline cathrine cecilie cecilia charlotte christian christina christine
    christoffer clara
    dag dagny daniel david dorthe
    ebba edvard eero egil eilif eirik einar eivind elias elin elisabeth elise eli ella ellen else elsa
    emil emilie emma erik erling espen eva even eyvind
    filip finn frank frida fredrik frode
    geir gerd gina gisle gjermund greta grete gro gudrun gunn gunnar gunhild gunilla gustav guro gøran
    göran
    halvard halvor hanna hanne hans harald hedda hege heidi heikki helena helene helge helmi henrik
    henriette herman hilde hilmar håkan håkon hugo
    ida inga inge ingeborg inger ingrid ingunn ingvild isak ivar iver
    jakob jan janne jari jenny jens jesper johan johanna johannes john jon jonas jorunn josefine
    jukka julie juha jørgen jørn
    kaja kamilla karen kari karin karina karl karoline kasper katarina kathrine katrine kent kerstin
    kim kine kirsten kjell kjersti kjetil knut kristian kristin kristina kristine kristoffer kurt kåre
    lars laila lasse leif lena leena liam linda line linn linnea lisa lise live liv lone louise lucas
    ludvig lukas
    magne magnus maja malin malene mads margareta margit margrethe mari maria marianne marie marit
    markku marius markus marte martin martine mathias mats matti mette mia mikael mikkel mikko mona
    monica morten
    nils nina noah nora
    odd oddvar olav ola ole oliver olivia oskar oscar ove
    per peder pekka peter petter pia pirjo pål
    ragnar ragnhild randi rasmus reidar rigmor rolf roger rune
    sander sanna sara sebastian selma sigrid sigurd silje simen simon sindre sissel siv sofia sofie
    solveig stefan steinar stein stian stig stina ståle sunniva susanne svein sven sverre synnøve
    søren sanne
    terje thea theo thomas thor tiina timo tina tobias tom tommy tone tor tore torill torstein trine
    trond tuula turid tuva
    ulf ulla unni unn
    vegard veronica vibeke vidar vigdis vilde viktor ville vivian
    wenche william wilma
    øystein øyvind
    åse åke åsa
"""
GIVEN_NAMES = frozenset(_LISTED.split())
