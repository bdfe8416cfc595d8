"""English words people write in lower case mid-sentence (generated: do not edit).

Made by ``benchmarks/sanitizer_common_words.py`` from cased English text that the
``data`` extra ships (see there): 16506 words written in lower case at least
3 times and at least a quarter as often as capitalised. The sanitiser reads a
name-list word that is also one of these ("will", "hope", "rose") as a name only
with a cue."""

COMMON_WORDS = frozenset("""
aaa aaeo aardvark aardvarks aardwolf aardwolves abaci abacus abandon abandoned abandoning
abandonment abbreviated abbreviation abdomen abdominal abducted aberration abhorrent abiding
abilities ability abjad able ably abnormal abnormalities aboard abolish abolished abolishing
abolition abolitionist abolitionists aboriginal abort aborted abortifacient abortion abortions
abortive abound about aboutab above abridged abroad abrupt abruptly abs absence absent
absolute absolutely absorb absorbed absorbing absorbs absorption abstract absurd absurdist
absurdities absurdity absurdly abugida abugidas abundance abundances abundant abuse abused
abuses abusive abyss ac academia academic accelerated accelerating acceleration accent
accented accents accept acceptable acceptance accepted accepting accepts access accessdate
accessed accessibility accessible accessories accident accidental accidentally accidents
acclaimed accommodate accompanied accompanies accompany accompanying accomplish accomplished
accomplishes accomplishing accomplishment accomplishments accord accordance according
accordingly account accountability accountable accounted accounting accounts accreditation
accumulate accumulated accumulates accuracy accurate accurately accusation accusations accuse
accused accustomed ace acerbic acetate acetic ache achievable achieve achieved achievement
achievements achieves achieving achingly acid acidic acidity acids acknowledge acknowledged
acknowledges acknowledging acquaintance acquaintances acquire acquired acquisition acquittal
acre acreage acres across act acted acting actinium actinopterygians action actions activate
activated activation active actively activism activist activists activities activity actor
actors actress actresses acts actual actuality actually acumen acute acyclic ad adage adapt
adaptability adaptation adaptations adapted adapting adaptive add added addict addicted
addiction addictions adding addition additional additionally additions additive additives
additivity address addressed addresses addressing adds adept adequate adequately adhere
adhered adherents adheres adhesion adhesive adiabatic adieu adjacent adjective adjectives
adjoining adjust adjusted adjusting adjustment adjustments administer administered administers
administration administrations administrative administrator admirable admirably admirals
admiration admire admired admirer admirers admission admit admits admitted admittedly
admitting adobe adolescence adolescent adolescents adopt adopted adopting adoption adoptive
adopts adorable adorably adoring adprices adrenaline adrift adroitly ads adult adulthood
adults advance advanced advancement advancements advances advancing advantage advantages
advent adventure adventurer adventures adventurous adversaries adversary adverse adversity
advertised advertisement advertisements advertising advice advise advised adviser advisers
advises advisor advocacy advocate advocated advocates advocating adys aerial aerospace
aesthetic aesthetically aesthetics aether af afaq afar afeeee afer affable affair affairs
affect affectation affected affecting affection affectionate affectionately affections affects
affiliated affiliation affiliations affinities affinity affirm affirmation affirmed affirming
affirms afflicted affliction affluent afford affordability affordable afforded aficionados afl
afloat aforementioned afraid afresh afrika after afterlife aftermath afternoon afternoons
afterthought afterwards again against age aged agencies agency agenda agent agents ages
aggregate aggregates aggression aggressive aggressively agha aging agitprop agnostic agnostics
agnostids ago agonizing agoraphobic agrarian agree agreed agreeing agreement agreements agrees
agricultural agriculture agronomic agronomy aground ahead aid aide aided aiding aids aiki
aikido ailing aim aimed aiming aimless aimlessly aims air airborne aircraft airless airline
airport airports airs airy aisle aisles ak aka akin al ala alabaster alarm alarmed alarms alas
alawildlife albedo albedos albeit album alchemical alchemist alchemists alchemy alcohol
alcoholic alcoholism alcohols aleph alert alga algae algal algebra algorism algorithm
algorithmic algorithms alien alienate alienated alienating alienation aliens align aligned
alignment alike alive alkali alkalide alkalides alkaline alkalireact alkane alkanes alkyl all
allegations alleged allegedly allegiance alleging allegorical allegory alleviate alleys
alliance alliances allied allies alligator allotted allow allowance allowed allowing allows
alludes alluring allusion allusions ally almost alms alone along alongside aloof alpha
alphabet alphabetic alphabetical alphabets alpine already alrecnstrctn als alsj also alt alter
alteration alterations altered altering alternate alternately alternates alternation
alternative alternatives although altitude alto altogether altruism altruist altruistic
altruistically alum aluminium aluminum alumni always am amalgam aman amassed amateur
amateurish amateurishly amateurs amauensis amaze amazed amazement amazing amazingly ambassador
ambassadors amber ambient ambiguities ambiguity ambiguous ambition ambitions ambitious
ambivalence ambulance ambush ambushed amend amended amendment amendments americanhistoric
americano amiable amid amide amidst amino amiss ammonia ammonium ammunition amnesia amnesty
amniotes among amongst amor amoral amount amounted amounts amp ampere amperes amphibian
amphibians ample amplexus amplified amplify amuse amused amusement amusing an anachronistic
anal analog analogous analogue analogy analysed analyses analysis analyst analysts analytical
analyze analyzed analyzing anarcha anarchic anarchism anarchist anarchistic anarchists anarcho
anarchy anarquismo anatomical anatomists anatomy ancestor ancestors ancestral ancestry anchor
anchored anchorman ancient and andreev android androids ane anecdotal anemic anemone
anesthesia anew angel angels anger angered angle anglerfish angles angling angrily angry angst
anguish angular anhydrous animal animals animated animating animation animator animators
animatronic anime anion anions ankle annals annexed anniversary announce announced
announcement announces announcing annoyed annoying annual annually annul anomie anonymous
another ans ansi answer answered answering answers ant antagonism ante anteater antennae
anthem anthems anthology anthropological anthropologist anthropologists anthropology anti
antibiotics anticipated anticipation antics anticyclone antidote antique antiquity antithesis
ants anus anxiety anxious any anybody anymore anyone anything anyway anywhere ao aortic ap apa
apart apartheid apartment apartments apdl ape apellai apellaia aperture apes apex aplomb
apocalypse apocalyptic apogee apologize apologized apologizing apology apothecary apotropaic
appalling apparatus apparel apparent apparently appeal appealed appealing appeals appear
appearance appearances appeared appearing appears appease appellant appellate appellee
appendages appendix appetite applaud applauded applause apple appliance appliances applicable
application applications applied applies apply applying appoint appointed appointing
appointment appointments appoints appreciate appreciated appreciates appreciating appreciation
apprehend apprehension apprentice approach approached approaches approaching appropriate
appropriated appropriately appropriation approval approve approved approximate approximated
approximately approximation apt aptly aq aqua aquatic aqueous ar arable arbitrary arc arcane
arch archaea archaeological archaeologists archaeology archaic archeological archetypal
archetype architect architects architectural architecture archival archive archived
archivedate archives archiveurl arctic ardent arduous are area areas arena arguably argue
argued argues arguing argument arguments arid arise arises arising arisrich aristocracy
aristocrat aristocratic aristotelisopera arithmetic arm armature armchair armed armies armor
armored armour arms army aromatic aromatics arose around arraigned arraignment arrange
arranged arrangement arrangements arranges arranging arras array arrest arrested arresting
arrests arrival arrivals arrive arrived arrives arriving arrogance arrogant arrow arrows
arsenides art arteries artery artful artfully arthouse arthropod article articles articulate
articulated artifact artifacts artifice artificial artificially artillery artist artistes
artistic artistically artistry artists artless arts artsy artwork artworks arty as ascent
asexual ashamed ashes aside ask asked asking asks asleep aspect aspects aspen asphalt asphalte
asphaltum aspiration aspirations aspire aspires aspiring ass assailant assassin assassinate
assassinated assassination assassins assault assaulted assaults assay assemble assembled
assembles assembly assert asserted asserting assertion assess assessed assessing assessment
asset assets assign assigned assignment assignments assimilated assist assistance assistant
assistants assisted assisting assistive assists associate associated associates association
associations associative assume assumed assumes assuming assumption assumptions assurance
assure assured assures asteroid astonish astonishing astonishingly astounding astray astrology
astronaut astronautics astronauts astronomer astronomers astronomical astronomy
astrophotography astute asylum at atb ate atemi atheist atheistic atheists athlete athletes
athletic atmosphere atmospheric atom atomic atomicweights atomisation atoms atop atpbio atria
atrocious atrocities attach attached attachment attack attacked attacker attackers attacking
attacks attain attained attempt attempted attempting attempts attend attendance attendant
attended attending attention attentions attested attitude attitudes attorney attorneys attract
attracted attracting attraction attractions attractive attracts attributable attribute
attributed attributes atypical au auction audacious audacity audience audiences audio audit
audited audition auditorium auditory aught augmented augsep aunt aura auspicious austere
austerity auteur authentic authenticity author authored authoritarian authoritarianism
authoritative authorities authority authorized authors autism autistic auto autobiographical
autobiography autogenerated automated automatic automatically automation automobile automotive
autonomous autonomy autopsy autoworkers autumn avail availability available avalanche avant
avec avenge average averaged averages averaging aversion avert averted aviation avid avoid
avoidance avoided avoiding avoids aw await awaiting awaits awake awakening awakens award
awarded awards aware awareness away awe awesome awful awfully awhile awkward awkwardly
awkwardness awry ax axe axes axiom axioms axis ay az babbling babe babes babies baby bachelor
back backbone backdrop backdrops backed background backgrounds backhand backing backpack backs
backstage backup backward backwards backyard bacteria bacterial bad badge badly badness
baffled baffling bag baggage bags bail bailouts bait baked bakery balance balanced balances
balancing bald balding ball ballet balloon ballot ballots balls bam ban banal banality band
bands bang banging bank banker banking bankole bankrupt bankruptcy banks banned banner banning
banquet banter baptized bar barbarians barbed barber bare barely bargain bargained bargaining
barium bark barking barley barn barrage barred barrel barrels barren barrier barriers bars
bartender basal base baseball based basement baser bases bashing basic basically basics basin
basins basis basket basketball bass bastard batch bath bathing bathos bathroom bathtub
battalion battalions battered batteries battery battle battlefield battleground battles
battling bawdy bb bbc bc be beach beaches beacon bead beads beak beam beams beans bear
bearable beard bearded beardless bearer bearers bearing bears beast beasts beat beaten beating
beats beauties beautiful beautifully beauty bebebe became because beckons become becomes
becoming bed bedrock bedroom beds bedside bee beech beef been beer bees beet beetles before
befriends beg began beggar beggars begin beginning beginnings begins begs beguiling begun
behalf behave behaves behaving behavior behavioral behaviors behaviour behavioural behaviours
behind behold beiden being beings belief beliefs belies believability believable believe
believed believer believers believes believing bell bells belly belong belonged belonging
belongings belongs beloved below belt belts bench benchmark bend bender bendiga bending
beneath benefactor beneficial beneficiary benefit benefited benefits benevolent benign bent
benthic benzene ber beseech beside besides besieged besieging besotted best bestow bestowed
bestseller bet beta betrayal betrayals betrayed betraying bets better betting between beverage
beware bewildering beyond bf bi bias biased bib biblical bibliography bicameral bickering
bicycle bid bidder bien big bigger biggest bigotry bike biker bikes bilateral bile bilingual
bill billed billion billionaire billionaires billions bills bin binary bind binder binding
binoculars bio biochemistry biodiversity biofuel biofuels biographer biographers biographical
biographies biography biological biologically biologist biologists biology biomass biopic
biotechnology bipartisan bird birds birth birthday birthplace birthright births bisexual bison
bit bitch bite bites biting bits bitten bitter bittersweet bitumen bituminous biz bizarre
black blacklisted blackmail blacks bladder blame blamed blames blaming bland blandness blank
blanket blankets blanks blast blasted blatant blatantly blaxploitation blazes bleak bled bleed
bleeding blend blended blending blends bless blessed blessing blica blind blinding bliss
blissfully bloated blob bloc block blockade blockbuster blockbusters blocked blocking
blockquote blocks blog blond blonde blood bloodbath blooded bloodless bloodletting bloodlust
bloodshed bloody bloom bloomberg blossoms blow blowing blown blows blue blueprint blues
blunder blunt bluntly blur blurred blurry blurs blush bluster bn boar board boards boasted
boasting boasts boat boats bodice bodied bodies bodily body bodybuilder bodyguard bogged
boggling bogs bogus bohemian boil boiled boilerplate boiling boils boisterous bold boldface
boldly bolt bomb bombarding bombardment bombastic bombed bomber bombers bombing bombings bombs
bona bond bonded bonding bonds bone bones bonus bony boobs book books bookstore boom boomer
booming boost boosted boot booth boots border bordered bordering borders bore boreal bored
boredom boring born borne boron borough boroughs borrow borrowed borrowing borrows bosom boss
bosses bot botany botch botched both bother bothered bothers bottle bottles bottom bought
bounce bounces bouncy bound boundaries boundary bounded boundless bounds bounties bounty
bourgeois bout bouts bow bowel bowl bowling bowls box boxer boxes boxing boy boycott boycotted
boyfriend boyfriends boys br brace bracelets bracing bracket brackets bragged braille brain
brainer brainless brains branch branched branches branching brand brash brass bravado brave
bravely bravery bravest bravura brawn brazen breach bread breadth break breakdown breakfast
breaking breaks breakthrough breakup breast breath breathe breathes breathing breathtaking
breathtakingly bred breed breeders breeding breeds breezy brethren brewing bribery brick
bricks bride bridge bridges brief briefly brigade brigades brigadier bright brighter brightest
brightly brightness brilliance brilliant brilliantly brim brimming brine bring bringing brings
brink brio brisk bristles brittle broad broadband broadcast broadcaster broadcasting
broadcasts broader broadly broke broken broker bronze brood brooding brothel brother
brotherhood brothers brought brow brown browns browse brr bruised brunt brush brutal brutality
brutally brute bu bubble bubbles bubbly buccal buck bucket bucks buddies budding buddy budget
budgetary budgets buffalo buffer buffeted buffs bug buggy build builders building buildings
builds built bulb bulk bull bullet bullets bullies bully bullying bulwark bumbling bump bumper
bunch bundle buoyant burden burdened burdens burdensome bureaucracy bureaucratic bureaucrats
burgeoning burglars burial buried burlesque burn burned burning burns burnt burrow burrowing
burrows burst bursting bursts bus buses bushels bushy busiest business businesses businessman
businesspeople bust busted busting busts busy but butane butcher butt butterfly button buttons
butyllithium buy buyers buying buys buzz by bygone bypass byproduct bystanders ca cabin
cabinet cable cache cad cadavers caecilian caecilians caesium caf cafe cafeteria cage cake
cakes calamity calcium calculability calculable calculated calculating calculation
calculations calculator calculators calculus calendar calf caliber calibrated call called
calligraphy calling callow calls calm camaraderie came camel cameo cameos camera cameras
camerawork camouflage camp campaign campaigned campaigning campaigns camping camps campus
campuses campy can canceled cancelled cancer candid candidacy candidate candidates candidly
candle candles candy canines canned cannibal cannibalism cannibals cannon cannons cannot canny
canoes canon canonical canteen canvas cap capabilities capability capable capacities capacity
caper capita capital capitalism capitalist capitalistic capitalize capitals capitol capped
capricious capsule captain caption captivated captivating captive captives captivity captors
capture captured captures capturing car carbon carbonate carbons carbonyl carboxyl carboxylic
carcass card cardboard cardiac cardinal cards care cared careens career careers careful
carefully caregiver caregivers careless cares caret cargo caribou caricatures caring carnage
carnal carnivorous carousel carp carpenter carpet carpets carriage carriages carried carrier
carriers carries carry carrying cars cart cartel cartilage cartilaginous cartoon cartoonish
cartoonist cartoons carved case cases cash casino casinos cast caste casting castle castles
casts casual casually casualties casualty cat catalog catalogue catalyst catalytic catastrophe
catastrophic catch catcher catches catching catchy categories categorization categorize
categorized category catering catfish catharsis cathartic cation cations cats cattle caucus
caudal caught causal causality causation cause caused causes causing caustic caution
cautionary cavalier cavalry cave caves cavities cb cba cbpp cd cdot ce cease ceased ceded
ceiling cel celebrate celebrated celebrates celebration celebrations celebratory celebrities
celebrity celesta celestial cell cella cellar cello cells cellular celluloid cement cemetery
censorship censure census censuses cent center centered centers centimeter centimetre central
centralized centrally centre centres cents centuries century cereal cereals cerebellum
cerebral cerebrum ceremonial ceremonies ceremony certain certainly certainty certificate
certification certified cervical cf cgi ch chain chains chair chairman chairs chalcogen
chalcogenides challenge challenged challenger challenges challenging chamber chambered
chambers champion championed champions championship chance chances change changed changes
changing channel channels chaos chaotic chapel chapter chapters character characterised
characteristic characteristically characteristics characterization characterizations
characterize characterized characters charcoal charge charged charges charging chariots
charisma charismatic charitable charities charity charm charmer charming charmingly charmless
charms chart charter charters charting charts chase chased chases chasing chasm chaste chat
cheap cheaper cheat cheated cheating check checked checkers checking checklist checks cheek
cheeky cheer cheered cheerful cheerfully cheering cheerleader cheery cheese cheesy chef chefs
chem chemguide chemical chemically chemicals chemist chemistry chemists chemnews cherish chess
chest chew chewing chick chicken chickens chief chiefly chiefs child childbirth childhood
childish childlike children chiller chilling chillingly chills chilly chimney chin chinook
chip chiral chitin chloride chlorides chlorine chlorophyll chlorophylls chloroplast
chloroplasts chocolate choice choices choir choke choking cholera chomp chondrosteans choose
chooses choosing choppy chops chord chords choreographed choreography chores chorus chose
chosen chromosome chronically chronicle chronicles chronological chuckle chuckles chunk church
churches cia cial cias cigarette cigarettes cilia cin cinema cinematic cinematically
cinematographer cinematography cinta cipher circa circle circles circuit circular circulation
circulatory circumcision circumlunar circumstance circumstances circus citadel citation
citations cite cited cites cities citing citizen citizens citizenship citrus city civic civil
civilian civilians civilization civilizations civilized cl clad clade claim claimed claiming
claims clan claptrap clarify clarinet clarity clash clashed clashes clashing class classed
classes classic classical classics classification classifications classificatory classified
classify classifying classmate classmates classroom classrooms classy clathrate clause
claustrophobic claws clay clean cleaner cleaning clear cleared clearer clearest clearing
clearly clergy clerical clerk clever cleverest cleverly cleverness clich cliche cliched
cliches client clients cliff climactic climate climates climatic climax climb climber climbing
clinic clinical clinically clinics clips cloaca cloak cloaked clock clocks clockwise clone
cloned clones close closed closely closeness closer closes closest closet closing closure
cloth clothed clothes clothing cloud clouds clout clover clowns cloying club clubs clue
clueless clues clumsily clumsy clunker clunky cluster clusters clutches clutching cm co coach
coached coaches coal coalition coarse coast coastal coaster coasting coastline coasts coat
coated coating cob cobbled cocaine cock cocktail cocky cocoon cod coda code coded codes
coefficients coercion coercive coffee cogent cognate cognition cognitive cognizant coherence
coherent cohesion cohesive coil coin coinage coincidence coincidentally coined coins cola cold
colder coldest coldly collaborated collaboration collaborators collage collapse collapsed
collapses collapsible collapsing collar collateral collating collation colleague colleagues
collect collected collecting collection collections collective collectively collectives
collectivised collectivism collectivist collectivization collector collectors college colleges
collegiate collide collision colloquial colloquially colonel colonial colonialism colonies
colonists colonization colonized colony color colored colorful colors colossal colour coloured
colouring colours colspan column columns com coma combat combatants combination combinations
combine combined combines combining combustible combustion come comeback comedian comedic
comedies comedy comes comet comets comfort comfortable comfortably comforting comfy comic
comical comically comics coming comma command commanded commander commanders commanding
commandment commandments commands commemorate commemorates commemorating commemorative commend
commendable commended comment commentary commentators commented commenting comments commerce
commercial commercialism commercially commercials commission commissioned commit commitment
commitments commits committed committee committees committing commodities commodity common
commonly commonplace commonwealth communal commune communes communicate communicated
communicates communicating communication communications communion communism communist
communists communities community commuter como compact compactness companies companion
companions companionship company comparable comparative comparatively compare compared
compares comparing comparison comparisons compass compassion compassionate compatibility
compatible compel compelled compelling compels compendium compensate compensated compensation
compete competed competent competing competition competitions competitive competitor
competitors compilation compiled complain complained complaining complains complaint
complaints complementary complemented complete completed completely completeness completes
completing completion complex complexes complexion complexities complexity compliance
complicated complication complications complicity complied compliment comply component
components compose composed composer composers composition compositions compost compound
compounded compounds comprehensible comprehension comprehensive compressed compression
comprise comprised comprises comprising compromise compromised compulsive compulsively
compulsorily compulsory computable computation computational computations compute computed
computer computerized computers computes computing computor comrade con conceal concealed
conceit conceited conceivable conceive conceived concentrate concentrated concentrates
concentrating concentration concentrations concept conception conceptions concepts conceptual
concern concerned concerning concerns concert concerts concession concessions concise conclude
concluded concludes concluding conclusion conclusions concocted concoction concrete condemn
condemnation condemned condensate condensation condensed condescending condescension condition
conditional conditioned conditioner conditioning conditions conducive conduct conducted
conducting conductivity conductor cone confection conference conferences conferred confess
confessed confession confessions confidence confident confides configuration confined confines
confirm confirmation confirmed confirms confiscated conflict conflicted conflicting conflicts
confluence conformation conformations conformity confront confrontation confrontations
confronted confronting confronts confused confuses confusing confusion confusions congenial
congenital congratulation congregation congregations congressional congressman congressmen
coniferous conjecture conjugate conjunction conjure conjured conjures connect connected
connecting connection connections connective connectivity connects conniving connoisseurs
conquer conquered conquering conquers conquest conquests cons conscience conscientious
conscious consciously consciousness consecrated consecutive consensus consent consequence
consequences consequent consequential consequently conservation conservatism conservative
conservatives conserve consider considerable considerably consideration considerations
considered considering considers consigned consist consisted consistency consistent
consistently consisting consists consolation consolidated consonant consonants conspicuous
conspicuously conspiracy conspirators conspire constant constantly constants constellation
constituencies constituency constituent constituents constitute constituted constitutes
constitution constitutional constitutionally constrain constraints construct constructed
construction constructs consult consulted consulting consume consumed consumer consumers
consuming consummate consumption contact contacted contacts contagious contain contained
container containing contains contemplated contemplation contemplative contemporaries
contemporary contempt contend contended contender content contention contentious contents
contest contestants contested contests context contexts contiguous continent continental
continents contingency contingent continual continually continuation continue continued
continues continuing continuity continuous continuously continuum contraception contraceptives
contract contracted contracting contraction contractions contractor contracts contradiction
contradictory contrary contrast contrasted contrasting contrasts contribute contributed
contributes contributing contribution contributions contributor contributors contrivance
contrivances contrived contriving control controlled controlling controls controversial
controversies controversy convened convenience convenient conveniently convention conventional
conventionally conventions convergence convergent conversation conversations converse
conversion convert converted converts convey conveyed conveying conveys convict convicted
conviction convictions convince convinced convinces convincing convincingly convoluted cook
cooked cookie cookies cooking cool cooler cooling coolness cooperate cooperating cooperation
cooperative cooperativeness coordinate coordinated coordinates coordination cop cope copied
copies copious copper cops copy cor coral cord cords core corn cornea corner corners cornuta
corny corporate corporation corporations corporis corps corpse corpses corpus correct
corrected correction corrections correctly correctness correlation correspond corresponded
correspondence correspondent corresponding corresponds corridor corridors corrosive corrupt
corrupted corruption corse cortex cosmetic cosmic cosmological cosmology cosmonaut cosmonauts
cosmos cost costing costly costs costume costumed costumes cottage cotton couch could coulomb
counsel counseling counselor count counted countenance counter counterculture counterfeit
counterpart counterparts counterpoint counters counties counting countless countries country
countryside counts county coup couple coupled couples courage courageous course courses court
courtesy courtier courtroom courts courtship cousin cousins covalent covariance covariant
cover coverage covered covering covers covert cow coward cowardice cows coyote cozy crack
cracked cracking crackle cracks craft crafted crafting crafts craftsmanship craftsmen crafty
crammed crap crash crashed crashes crashing crass crater craters crawl crazed crazy creaky
cream create created creates creating creation creations creative creatively creativity
creator creators creature creatures credence credibility credible credit credited credits
creed creep creepiness creeping creepy crew crewmen crews cricket cried cries crime crimes
criminal criminally criminals cringe crippled crippling crises crisis crisp cristatus criteria
criterion critic critical critically criticised criticism criticisms criticize criticized
criticizes criticizing critics critique crocodile cronies crooked crooks crop cropland
cropping crops cross crossed crosses crossing crossover crossroads crow crowd crowded crowds
crown crowned crows crucial crude crudity cruel cruelly cruelty cruise cruiser crumbling
crusade crush crushed crushing crushingly crust crustacean crux cry cryptic cryptography
crystal crystalline crystallize crystals cs csa ct cts cub cube cubic cubs cucumber cue cues
cuisine cula culminated culminates culminating culmination culprit cult cultivate cultivated
cultivation cultura cultural culturally culture cultures cum cumbersome cumulative cuneiform
cunning cup curb curdling cure cured curettage curing curiosity curious curiously curling
curmudgeon currency current currently currents curriculum curse cursed cursing cursive curves
curvilinear cushion custody custom customary customers customized customs cut cutaneous cute
cuteness cutesy cuticle cutout cuts cutter cutting cuu cyanobacteria cyber cyborg cycle cycles
cyclic cycloalkane cycloalkanes cyclones cynical cynicism da dab dad daddy dads daily dairy
dam damage damaged damages damn damned damning damp dampened dan dance dancer dances dancing
danger dangerous dangerously dangers dans dar dare dared dares daring dark darker darkest
darkly darkness darling darned dart das dash dashing dat data database databases date dated
dates dating daughter daughters daunting davidianus dawn day daylight days daytime dazed
dazzle dazzling dc dd de dead deadline deadly deadpan deaf deafening deal dealer dealers
dealing dealings deals dealt dear dearest dearly dearth death deathbed deathly deaths
debatable debate debated debates debating debris debt debts debut dec decade decadent decades
decay decayed decaying deceased deceit deceived decency decennial decent deception deceptions
deceptively decibel decide decided decidedly decides deciding deciduous decimal decimated
decision decisions decisive decisively deck declaration declarations declare declared declares
declaring decline declined declines declining decomposition decompression deconstruct
deconstruction decorated decoration decorative decorator decrease decreased decreases
decreasing decree decreed dedicated dedication deduction deductions deductive deed deeds
deemed deep deepens deeper deepest deeply deer default defeat defeated defeating defeats
defect defective defects defence defend defendant defendants defended defender defending
defense defenses defensible defensive deference deferred defiance defiant defiantly deficiency
deficient deficit deficits defies define defined defines defining definite definitely
definition definitional definitions definitive deflating deforestation deft deftly defunct
defy defying degradation degraded degree degrees dehkhodaworddetail deities deity deja del
delay delayed delays delectable delegate delegated delegates delegation delegations delete
deleted deliberate deliberately delicate delicately delicious deliciously delight delighted
delightful delightfully delights delinquent deliver delivered delivering delivers delivery
delocalised delusions delve delves demand demanded demanding demands demeanor demented demise
democracies democracy demographic demon demonic demonize demonizing demons demonstrate
demonstrated demonstrates demonstrating demonstration demonstrations den denial denied
denizens denominational denominations denote denoted denotes denounced dens dense densely
densest densities density dental dentist deny denying deoxygenated depart departed department
departments departs departure depend dependable depended dependence dependency dependent
depending depends depict depicted depicting depiction depictions depicts depleted depletion
deploy deployed deployment deport deportation deported deposed deposit deposited deposits
depraved deprecating depreciation depressed depressing depression deprived deprotonated depth
depths deputies deputy der derailed deranged derision derivation derivative derivatives derive
derived derives dermal dermis des descendant descendants descended descending descends descent
describe described describes describing description descriptions desert deserted deserts
deserve deserved deserves deserving desiccated design designated designation designed designer
designing designs desirable desire desired desires desk desolate desolation despair despairing
desperate desperately desperation despise despite destination destinations destined destiny
destitution destroy destroyed destroying destroys destruction destructive detached detachment
detachments detail detailed detailing details detect detected detection detective detectives
detention deteriorating deterioration determination determine determined determines
determining deterministic detour detract detractors detriment detrimental detritus devastated
devastating devastatingly devastation develop developed developers developing development
developmental developmentally developments develops deviant deviation deviations device
devices devil devilish devious devise devised devoid devolves devote devoted devotees devotion
dew dexterity dey df dh di dia diabetes diabolical diacritic diacritics diagnose diagnosed
diagnoses diagnosis diagnostic diagonal diagram diagrams dialect dialectics dialects dialog
dialogue dialogues diameter diamond diamonds diaries diary diaspora diatom diatomic dice
dichotomy dictate dictated dictating dictator dictatorship diction dictionaries dictionary did
didactic didacticism didst die died dies diesel diet differ difference differences different
differential differentiate differentiated differently differing differs difficult difficulties
difficulty diffuse diffusion dig diger digest digestion digestive digging digit digital
digitally digits dignified dignity digs dilation dilemma dilemmas diligent dilute diluted dim
dime dimension dimensional dimensions dimethylbutane diminished diminishing diner dinger
dining dinner dinosaur dinosaurs dio dioxide dip diploma diplomacy diplomat diplomatic
diplomatically diplomats diprotic dips dire direct directed directing direction directional
directions directive directly director directorial directors directory directs dirt dirty
disabilities disability disabled disadvantage disaffected disagree disagreed disagreement
disagreements disambiguation disappear disappearance disappeared disappearing disappears
disappoint disappointed disappointing disappointingly disappointment disappointments
disapproval disarming disarmingly disarray disaster disasters disastrous disbanded disbelief
disc discarded discern discerned discernible discerning discharge discharged disciple
disciples discipline disciplines disclose disclosed disclosure disco discomfort discontent
discord discount discourage discouraged discourages discourse discover discovered discoveries
discovering discovers discovery discreet discrete discretion discriminate discrimination
discuss discussed discusses discussing discussion discussions disdain disease diseases
disenchanted disenfranchised disenfranchisement disfigured disgrace disgraceful disgruntled
disguise disguised disguising disgust disgusted disgusting dish dishes dishonest dishonesty
disillusioned disingenuous disintegrating disintegration disjointed disk dislike disliked
dislocation dismal dismantled dismay dismiss dismissal dismissed dismissive disorder disorders
disoriented disparate disparities dispassionate dispatch dispatched dispenses dispersal
disperse dispersed dispersion displaced displacement display displayed displaying displays
displaystyle disposable disposal disposed disposition disproportionately disproven dispute
disputed disputes disquieting disregard disrupt disrupted disruption disrupts dissatisfaction
dissatisfied dissected dissection dissections dissemination dissertation dissident dissidents
dissociation dissolution dissolve dissolved dissolves distance distanced distances distant
distantly distasteful distemper distillation distilled distinct distinction distinctions
distinctive distinctly distinguish distinguishable distinguished distinguishes distinguishing
distortion distract distracted distracting distraction distractions distracts distraught
distress distributed distributes distribution distributions district districts distrust
disturb disturbance disturbed disturbing disturbingly ditch diurnal div diva dive divergence
divergent divers diverse diversified diversify diversion diversions diversity divert divertida
diverting divide divided divides dividing divine divinity division divisional divisions
divisive divisiveness divisor divorce divorced dizzying dm dmoz do doc dock docs doctor
doctoral doctors doctrine doctrines docu document documentarians documentaries documentary
documentation documented documenting documents doers does dog dogged dogma dogs doing doings
dojo dokument doldrums doll dollar dollars dolls dolphin domain domestic domesticated
domestication dominance dominant dominate dominated dominates dominating domination dominion
domino don donate donated donating donation donations donde done donkey donor donors doofus
doom doomed doomsday door doors doorstep doorway dope dopey dori dorm dormant dorsal dos
dosage dose doses dost dot doth dots double doubled doubles doubling doubt doubted doubtful
doubtless doubts dough doughnut dove down downbeat downer downhill download downplays
downright downs downstairs downtown downtrodden downward doze dozen dozens dp dq drab draft
drafted drafting drafts drag dragged dragging dragon dragonfly dragons drags drain drainage
drained drains drakon drama dramas dramatic dramatically dramatics dramatists dramatization
dramatized dramatizing dramedy drank drastic drastically draw drawing drawings drawn draws
dread dreaded dreadful dreadfully dream dreamed dreamers dreaming dreamlike dreams dreamt
dreary dreck drenched dress dressed dresses dressing drew dried drift drifter drifting drill
drilled drilling drink drinking drinks drive drivel driven driver drivers drives driving droll
drop droplets dropped dropping droppingly drops drought droughts drove drown drowned drowning
drowns drudgery drug drugs drum drummer drunk drunken dry drying du dual duality dubbed
dubious ducats duck duct ducts dud dude due duel dues dug dull dullest dumb dumbed dumbness
dump dumped dumping dunes duo dupe duplicates duplication durable duration during dust dusty
duties dutiful duty dv dwarf dwarfed dwellers dwelling dwells dwindling dyes dying dynamic
dynamics dynamite dynasties dynasty dysfunction dysfunctional dystopia dystopian each eager
eagle ear earlier earliest early earn earned earnest earnestness earning earnings earns ears
earth earthen earthly earthquake earthquakes earthworm earthy ease easier easily east eastern
eastward easy eat eaten eating eats eb ec eccentric eccentricities eccentricity eccentrics ecf
echo echoes eclectic eclipse ecological ecology economic economical economically economics
economies economists economy ecosystem ecosystems ecstasy ecstatic ectoderm ed edge edged
edges edgy edict edit edited editing edition editions editor editorial editors edits eds
educate educated educating education educational educator educators ee eel eerie eerily ef
effect effective effectively effectiveness effects efficacy efficiency efficient efficiently
effort effortless effortlessly efforts egg eggs ego egoism eh ei eight eighteen eighth eighty
either el elaborate elapsed elbow elbows elder elderly elders eldest elect elected electing
election elections elective electoral electorate electric electrical electrically electricity
electrolysis electromagnetic electromechanical electron electronegative electronegativity
electronic electrons electropositive electrostatic elegance elegant elegantly element
elemental elementary elements elephant elevate elevated elevates elevation elevations elevator
eleven elf elicit eligibility eligible eliminate eliminated eliminating elimination elite
elites elliptical elongated eloquence eloquent eloquently else elsewhere elude eludes elusive
elves em emancipated emancipation embark embarks embarrass embarrassed embarrassing
embarrassment embassy embedded embodied embodies embodiment embody emboldened embossers
embrace embraced embraces embracing embroiled embryo embryology embryonic embryos emerald
emerge emerged emergence emergencies emergency emerges emerging emigrants emigrated emigration
eminence eminent emission emissions emit emitted emner emotion emotional emotionally emotions
empathetic empathic empathizing empathy emperor emphasis emphasise emphasize emphasized
emphasizes emphasizing emphatic empire empires empirical empirically employ employed employee
employees employer employers employing employment employs empower empowered empowerment
empowers emptiness empty emulated emulsion emulsions en enable enabled enables enabling enact
enacted enactments encampment enchanting enchantment encoded encoding encodings encompass
encompassed encompasses encompassing encounter encountered encountering encounters encourage
encouraged encourages encouraging encyclopaedia end endanger endangered endearing endeavor
endeavors endeavour ended endemic ending endings endless endlessly endoderm endorsed
endorsement endorsements endoskeleton endosymbiotic endowed ends endurance endure endured
endures enduring enemies enemy energetic energetically energies energize energized energizing
energy enforce enforced enforcement eng engage engaged engagement engages engaging engagingly
engine engineer engineered engineering engineers engines engraved engraving engrossed
engrossing engulfed enhance enhanced enhances enhancing enigmatic enjoy enjoyable enjoyably
enjoyed enjoying enjoyment enjoys enlarge enlarged enlightened enlightening enlightenment
enlisted enlistments enlists enormous enormously enough enriched enroll enrolled enrollment
ensemble enslaved ensues ensuing ensure ensured ensures ensuring entangled entanglements enter
entered entering enterprise enterprises enterprising enters entertain entertained entertaining
entertainingly entertainment entertainments entertains enthalpy enthrall enthralling
enthusiasm enthusiast enthusiastic enthusiastically enthusiasts enticing entire entirely
entities entitled entitlement entitlements entity entrance entranced entreat entrenched
entrepreneur entrepreneurial entrepreneurs entrepreneurship entries entropy entry enumerably
enumerated envelope enveloped enveloping envelops envious environment environmental
environmentalism environments envisioned envy enzyme ephemeral epic epicenter epics epidemic
epidemics epidermis epiphany episode episodes episodic epistemological epistemology epithelial
epithelium epithet epithets epitome epoch epochs eponym eponymous epzzsd equal equality
equally equals equated equation equations equator equatorial equilibrium equipment equipped
equity equivalence equivalent equivalents er era eradicate eradicated erase ere erected ergo
erode eroded erosion erotic eroticism err erratic erroneous erroneously error errors ers
eruption es esa escalated escalates escapade escapades escape escaped escapes escaping
escapism escapist escort esoteric esotericism especial especially espionage esque essay
essayists essays essence essential essentially est esta establish established establishes
establishing establishment establishments estate este esteem ester esthetic estimate estimated
estimates estranged estrogen et etc etching eternal eternity ethane ether ethereal ethical
ethically ethics ethnic ethnically ethnicities ethnicity ethnographic ethnographies
ethnography ethnology ethology ethos etymologies etymology eugenics eulogy euro evacuate
evacuated evacuation evade evaded evaluate evaluated evaluation evaluations evangelical
evaporation evapotranspiration even evening evenly event eventful events eventual eventually
ever evergreen everlasting every everybody everyday everyone everything everywhere eviction
evidence evidenced evident evidently evil evils evoamphib evocation evocative evoke evoked
evokes evoking evolution evolutionary evolve evolved evolves evolving ex exact exactly
exaggerated exaggerating exaggeration exalted exam examination examine examined examiner
examines examining example examples exams excavated excavations exceed exceeded exceeding
exceedingly exceeds excellence excellent excels except exception exceptional exceptionalism
exceptionally exceptions excess excesses excessive exchange exchanged exchanges excited
excitement exciting exclave exclude excluded excludes excluding exclusive exclusively excrete
excreted excruciating excursion excuse excuses execute executed executing execution executive
executives exemplar exemplary exemplified exempt exercise exercised exercises exercising
exhaust exhausted exhausting exhaustive exhibit exhibited exhibiting exhibition exhibitions
exhibits exhilarating exile exiled exist existed existence existent existential existentialism
existing exists exit exodus exoskeleton exoteric exotic exp expand expanded expanding expanse
expansion expansive expatriate expatriates expats expect expectancy expectation expectations
expected expecting expects expedient expedition expeditionary expeditions expelled expelling
expenditure expenditures expense expenses expensive experience experienced experiences
experiencing experiment experimental experimentally experimentation experimented experimenter
experiments expert expertise expertly experts expired explain explained explaining explains
explanation explanations explanatory explicit explicitly explode explodes exploding exploit
exploitation exploitative exploited exploiting exploitive exploits exploration explorations
explore explored explorer explores exploring explosion explosions explosive explosively
exponential export exportation exported exporter exporting exports expos expose exposed
exposes exposing exposition expository exposure express expressed expresses expressing
expression expressions expressive expulsion expulsions exquisite exquisitely extant extend
extended extending extends extension extensions extensive extensively extent exterior external
externally extinct extinction extinguishing extortion extra extracellular extract extracted
extracting extraction extraordinarily extraordinary extras extravagant extravaganza
extravehicular extreme extremely extremes extremists extremity extrinsic exuberance exuberant
exude exudes eye eyebrows eyed eyelids eyes eyesight ez fa fable fabric fabrica fabrics
fabulous facade face faced faces facet facets facial facile facilitate facilitating facilities
facility facing faco fact factbook faction factions facto factor factorial factories factors
factory facts faculties faculty fade faded fades fading fail failed failing failings fails
failure failures fain faint fair faire fairer fairly fairness fairs fairy faith faithful
faiths fake faked fall fallacies fallacy fallen falling fallow falls false falsely falter
falters fame famed familial familiar familiarity families family famine famous famously fan
fanatical fanatics fanciful fancy fans fantasia fantasies fantasized fantastic fantasy faq far
farce farcical fare farewell farm farmer farmers farming farmland farms fart farther farts
fascinate fascinated fascinates fascinating fascination fascism fascist fashion fashioned
fashions fast faster fastest fat fatal fatalities fatality fatally fate fateful fates father
fathered fatherhood fathers fatigue fatty fault faults faulty fauna faux favor favorable
favored favoring favorite favorites favors favour favourable favoured favourite favours fc fd
fear feardotcom feared fearful fearing fearless fearlessness fears fearsome feast feat
feathers feats feature featured features featuring feb feces feckless fed federal federalist
federalists federations fee feeble feed feedback feeder feeding feeds feedstock feel feeling
feelings feels fees feet feisty fell fellow fellows fellowship felony felt fem female females
feminine feminism feminist feminists femme fence fencing fend fenestra feral ferocious ferry
fertile fertilisation fertility fertilization fertilized fertilizer fertilizers fervently fest
festival festivals fetal fetch fetched fetters fetus fetuses feuds fever few fewer ff ffebcd
fi fianc fiancee fiber fico fiction fictional fictitious fide fie field fielded fields
fieldwork fiendish fierce fiercely fiery fifteen fifth fifths fifties fifty fight fighter
fighters fighting fights figurative figuratively figure figured figures figuring file filed
files filing fill filled filler filling fills film filme filmed filmgoers filming filmmaker
filmmakers filmmaking films filter filtered filters filth fin final finale finally finals
finance financed finances financial financially financing find finding findings finds fine
finely finer finesse finest finger fingers finish finished finishes finishing finite finned
fins fire firearm fired firefighters firemen fires fireworks firing firm firmly firms first
firsthand fiscal fiscally fish fisheries fisherman fishermen fishes fishing fishmonger fisted
fit fitfully fitness fits fitted fitting fitw five fix fixated fixed fixes fixing fizz flaccid
flag flags flailing flair flamboyant flame flames flaming flapping flash flashback flashbacks
flashes flashy flat flatly flattened flatter flattering flatulence flavor flaw flawed flawless
flaws fled fledgling flee fleeing flees fleet fleeting flesh fleshed fleshy flew flexibility
flexible flick flicks flies flight flights flimsy flints flip flippant flipping flirts float
floating floats flocks flood flooding floods floor flop flora floral florid florin florins
florist flotation flounders flourish flourished flourishes flow flowchart flower flowering
flowers flowing flown flows flu fluctuation fluctuations fluent fluff fluffy fluid fluidly
fluids fluke flung fluoride flush flute fly flying foam focus focused focuses focusing fodder
foe foes fog foibles foil foils fold folded folds folk folklore folks follow followed follower
followers following follows folly fond fondly fondness foner font fonts food foods foodstuffs
fool fooled foolish fools foot footage football footed foothills footing footnote footnotes
footsteps for forage forages foraging forbade forbes forbid forbidden force forced forceful
forcefully forces forcibly forcing fore forearm forecast foreclosure forefront foreground
forehead foreign forelimbs foremost forensic foreshadowing forest forested forestry forests
forever foreword forfeited forge forged forget forgets forgettable forgetting forging forgive
forgiven forgiveness forgot forgotten form formal formalists formally format formation
formations formats formatting formed former formerly formidable forming forms formula formulae
formulaic formulas formulate formulated formulation forte forth fortified fortify forts
fortunate fortune fortunes forty forum forward fossil fossils fossorial foster fostered fought
foul found foundation foundational foundations founded founder founders founding fountains
four fourteen fourth fr frac fraction fractional fractions fragile fragility fragment
fragmentary fragmented fragments frailty frame framed frames framework framing franc franchise
francium frankly frankness frantic frat fraternal fraternity fraud fraudulent fraught frazzled
freak freaks freaky free freed freedmen freedom freedomhouse freedoms freelance freelove
freely freest freethought freeze freight frenetic frenzied frenzy frequency frequent
frequently fresco fresh freshly freshman freshness freshwater frica fried friend friendly
friends friendship friendships fright frightened frightening frighteningly frills fringe
fringes frisk frm fro frog frogs from front frontal frontcover frontier frothy frozen frs
fruit fruitful fruition fruits frustrated frustrating frustratingly frustration frustrations
fs ft fti ftp fu fuel fueled fuels fugitive fulfill fulfilled fulfilling fulfillment full
fullness fully fumbles fumes fun function functional functionality functioned functioning
functions fund fundamental fundamentally funded funding funds funeral funerals fungi fungus
funnier funniest funny fur furious furiously furnished furniture further fury fuse fused
fusion fuss futile futility futsal future futures futuristic fuzzy gadgets gag gags gain
gained gaining gains gainst gait galaxies galaxy gall galled galleries gallery gallon gallows
gamble gambler gambling game games gamesmanship gametes gaming gamma gang gangs gangster
gangsters gap gaps garage garb garbage garde garden gardens garner garrison garter gas gaseous
gases gasoline gasp gastric gastrointestinal gates gateway gather gathered gathering gathers
gaudy gauge gave gavel gay gaze gazing gb gbs ge gear geared gears geek geeks gel gelatinous
gem gems gender gene genera general generalchemistry generality generalized generally generals
generate generated generates generating generation generational generations generic generosity
generous genes genesis genetic genetically genetics genial genitalia genitals genius genocide
genre genres gente genteel gentle gentleman gentlemen gently genuine genuinely genus geo
geographer geographers geographic geographical geographically geography geological geology
geometric geometry geos geothermal ger geriatric germ gestation gestational gesture gestures
get getobject gets getting ghetto ghost ghosts ghoulish gi giant giants gico giddy gift gifted
gifts gig gigantic giggle giggles gigs gill gills gimme gimmick gimmicky gini girdle girdles
girl girlfriend girlfriends girls give given gives giving glaciers glad glamorous glamour
gland glands glandular glaring glass glasses gleam gleaned glee gleefully glens glib glides
glimmer glimpse glimpses glitz global globally globe gloomy glories glorification glorified
glorifying glorious gloriously glory gloss glossary glossy glow glowing glued glum gluten
glutinosus glyph glyphosate glyphs go goal goals goat goats gobble god goddess gods godwinsep
goes going gold golden golf goliath gone gong gonna good goodly goodness goods goodwill
goofball goofy googlebook goose gore gored gorge gorgeous gorgeously gory gospel got gothic
gotten govern governance governed governing government governmental governments governor
governors governs govpubs grab grabbing grabs grace graceful gracefully graceless graces
gracias gracious grad grade graded grader grades grads gradual gradually graduate graduated
graduates graduating graduation graffiti grain grains gram grammar grammarian grammatical gran
grand grandchildren granddaughter grandeur grandfather grandiloquent grandiosity grandkids
grandmother grandmothers grandparents grandson grant granted granting grants granular grape
grapes graph graphic graphical graphically graphics graphite graphs grapple grasp grasped
grasping grasps grass grassland grassroots grateful gratification grating gratitude gratuitous
grave gravel graves gravestone gravitation gravitational gravity gray graze grazing great
greatath greater greatest greatly greatness greed greedy green greenhouse greens greet greeted
greetings grenade grew grey grid grief grievance grievances grieve grieving grim grimes grimly
grimy grin grind grinding grinning grip gripping grips grisly grit gritty grizzly groan groans
groceries grocery groove grooves gross grossly grotesque ground groundbreaking grounded
grounds groundstrokes groundwork group grouped grouping groups grow growing grown grownups
grows growth grubbing gruesome grupos guarantee guaranteed guarantees guard guarded guardian
guarding guards guerilla guerrilla guess guessed guesses guessing guest guests guffaw guidance
guide guided guidelines guides guiding guilt guilty guise guitar gum gun gunboats gunmen
gunning gunplay gunpowder guns guru gusto gut guts gutsy guttmacher guy guys gymnastics ha
habeas habit habitat habitats habits habitually hack hacked hacking hackneyed hacks had hai
hail hair haired hairpiece hairs half halfway halide halides hall hallmark halls hallucinatory
halo halogen halogenation halogens halt halted ham hammer hammy hampered hand handbook handed
handedly handedness handful handheld handicap handicapped handing handle handled handles
handling handouts hands handsome handsomely handwriting handwritten hang hanged hangers
hanging hangover hangs hangul haphazard hapless happen happened happening happens happier
happily happiness happy harassment harbor harbour hard hardcore hardcover hardened harder
hardest hardly hardship hardware hardworking hardy harm harmful harmless harmonic harmonious
harmony harness harrowing harsh harshly harvest harvested has hast haste hastily hat hatch
hatched hate hated hateful hates hath hating hatred hats haul haunt haunted haunting haunts
have haven having havoc hawk hay hazard hazardous hazards hazy he head headed header heading
headline headlines headquartered headquarters heads heady heal healed healer healing health
healthcare healthier healthy heap hear heard hearing hears heart heartache heartbeat
heartbreak heartbreaking heartbreakingly hearted heartening heartfelt heartily heartland
hearts heartwarming heat heated heating heats heaven heavenly heavens heavier heaviest heavily
heavy heck hectare hectic hedonistic heed heel heels heft hefty height heightened heights
heinous heir heirs heist held helicopter helicopters helium hell hellbender hellish hello helm
helmer helmets help helped helper helpful helping helps hemisphere hemispherical hence heptane
her heralds herbal herbicide herbicides herbs herd here hereafter herein heritable heritage
hermetic hero heroes heroic heroin heroine heroism herring herrings hers herself heuristic hex
hexadecane hexadecimal hexane hey heyday hf hi hid hidden hide hideous hides hiding
hierarchical hierarchy hieroglyphs high higher highest highlands highlight highlighted
highlights highly highway highways hijacked hike hikes hilarious hilariously hilarity hill
hills him himself hind hinder hindered hindsight hinge hinged hinges hint hinterland hints hip
hipness hippie hips hire hired hires hiring his hist histology historia historian historians
historic historical historically histories history histrionics hit hither hitherto hitman hits
hitting hl hm ho hoary hoax hobby hoc hockey hodgepodge hogsheads hokey hokum hold holder
holders holding holdings holds hole holes holiday holidays hollow holocaust holy homage home
homegrown homeland homeless homemade homes homesickness homespun hometown homework homicide
hominid homologous homologues homoscedasticity homosexual homosexuality honed honest honestly
honesty honey honor honorable honorably honorary honored honoring honors honour honourable
honours hoo hood hook hooked hooker hoot hop hope hoped hopeful hopefully hopefulness hopeless
hopelessly hopes hoping hopper hopping horizon horizons horizontal hormonal hormone hormones
horn horned hornet horns horny horrible horribly horrid horrific horrifying horror horrors
horse horses hospital hospitality hospitals host hostage hostages hosted hostile hostilities
hosting hosts hot hotel hotels hotter hottest hour hourly hours house housed household
householders households housekeeping houses housewife housing how however howling hr hsam html
http https hualtzintzin hub hue hug huge hugely hulking hum human humane humani humanism
humanist humanistic humanitarian humanities humanity humanizing humankind humanly humans
humble humbled humbling humbly humid humidity humiliation humility humming humor humorless
humorous humour hundred hundreds hung hunger hungry hunk hunky hunt hunted hunter hunters
hunting hurricane hurricanes hurry hurt hurting hurts husband husbandry husbands hussein
hustler hustlers hybrid hybridization hydride hydrocarbon hydrocarbons hydrochloric
hydroelectric hydrogen hydronium hydrophobic hydroxide hydroxides hydroxyl hyena hyenas hymn
hype hyped hyper hyperbole hyperbolic hypertime hypnotic hypocrisy hypocritical hypotheses
hypothesis hypothesizes hypothetical hysteria hysterical ian ians ianu ibid ibn ic ice iceberg
icon iconic iconoclastic iconography icons icy id idea ideal idealism idealistic idealized
ideals ideas identical identifiable identification identified identifies identify identifying
identities identity ideological ideologies ideology idiocy idiom idiosyncratic idiot idiotic
idiots idle idyllic if ifa ifs ignite igniter ignites ignorance ignorant ignore ignored
ignores ignoring ii iii ikky ilab ill illegal illegalism illegally illegitimate illicit
illiteracy illiterate illness illnesses illogical ills illuminate illuminated illuminates
illuminating illumination illusion illusions illustrate illustrated illustrates illustrating
illustration illustrations illustrator iln image imagery images imaginable imaginary
imagination imaginative imaginatively imagine imagined imagines imaging imbalance imbued imf
imfart imitates imitation imitations imitative immature immediacy immediate immediately
immense immensely immersed immersion immigrant immigrants immigrated immigration imminent
immoral immortal immortality immune immunization impact impacted impacts impaired impairment
impairments impart impassioned impatient impeccable impending impenetrable imperative
imperfect imperfections imperial impersonal impervious impetus implant implanted implausible
implement implementation implemented implementing implements implication implications implicit
implicitly implied implies imply import importance important importantly imported imports
impose imposed imposes imposing impossible impossibly impoverished impractical impregnated
impress impressed impressing impression impressionable impressionistic impressions impressive
impressively imprint imprints imprisoned imprisonment improbable improper improperly improve
improved improvement improvements improves improving improvisation improvised impulse impulses
impulsive in ina inability inaccessible inaccurate inactive inadequate inadvertently
inalienable inane inanimate inappropriate inarticulate inaugural inauguration incapable
incarcerated incarceration incarnation incendiary incensed incentives inception incertae
incessant incest incestuous inch inches incidence incidences incident incidents incisive incl
inclination inclined include included includes including inclusion inclusive incoherence
incoherent income incomes incoming incompatible incompetent incomplete incomprehensible
inconceivable inconclusive incongruous inconsequential inconsistencies inconsistency
inconsistent incorporate incorporated incorporates incorporating incorporation incorrect
incorrectly increase increased increases increasing increasingly incredible incredibly
incumbent incurred indeed indefinite indefinitely indelible indent indentured independence
independent independently independents index indicate indicated indicates indicating
indication indications indicative indicator indictment indie indifference indifferent
indigenous indirect indirectly indispensable individual individualism individualist
individualista individualistic individuality individually individuals indoor indoors induce
induced induces inducing induction inductive indulge indulgence indulgent indulges industrial
industrialization industrialized industries industry ine ineffective inefficient inelegant
inept ineptly inequality inert inertia inertial inescapable inescapably inevitable inevitably
inexorably inexperience inexperienced inexplicable inexplicably inextricably infamous infancy
infant infantile infantry infants infatuated infected infection infectious inference inferior
infested infidelity infiltrate infiltrated infiltrates infinite infinitely inflammatory
inflation inflicted inflicting influence influenced influences influential influx info infobox
infomercial inform informal informally information informative informed informing informs
infrared infrastructure infuriating infuse infused infuses infusion ing ingenious ingenuity
ingest ingo ingratiating ingredients ingroup inhabit inhabitants inhabited inhabits inherent
inherently inherit inheritance inherited inherits inhuman inimitable initial initially
initiate initiated initiates initiation initiative initiatives inject injected injection
injunction injure injured injuries injury injustice ink inland inmate inmates innate inner
innermost innocence innocent innocuous innovate innovating innovation innovations innovative
innovators innuendo inoffensive inorganic input inputs inquiries inquiry inquisitive inroads
ins insane insanely insanity insatiable inscription inscriptions insect insects insecure
insecurity insensitive inseparable inserted inserting insertion inside insider insiders
insidious insight insightful insightfully insights insignia insignificant insipid insisted
insistence insistent insistently insisting insists insolation insoluble insomnia inspection
inspector inspiration inspirational inspirations inspire inspired inspires inspiring
instability installation installed installers installment instance instances instant instantly
instead instinct instincts instituted institutes institution institutional institutionalized
institutions instituto instruct instruction instructions instructs instrument instrumental
instruments insufficient insufficiently insult insulted insulting insultingly insults
insurance insurgency insurgent insurmountable insurrection insurrectionary int intact integer
integers integral integrate integrated integrating integration integrity intellect
intellectual intellectually intellectuals intelligence intelligent intelligently intend
intended intends intense intensely intensity intensive intent intention intentional
intentionally intentioned intentions inter interact interacting interaction interactions
interactive interchangeable interchangeably intercropping interdisciplinary interest
interested interesting interestingly interests interface interfere interference intergalactic
interim interior interludes intermediary intermediate interminable intermittent intermittently
intermolecular internal internally international internationale internationally internet
internship interpersonal interplay interpret interpretation interpretations interpreted
interpreting interprets interracial interred interrelationships interrupt interrupted
intersect intersection interstate intertwined intervals intervened intervention interventions
interview interviewed interviewing interviews interwoven intestine intimacy intimate
intimately intimidate intimidated intimidation into intolerable intolerance intoxicated
intoxicating intrauterine intricate intricately intrigue intrigued intriguing intrinsic intro
introduce introduced introduces introducing introduction introspective intruder intruding
intrusion intuition intuitive intuitively invade invaded invaders invading invaluable
invariably invariance invariant invasion inveigles invent invented invention inventions
inventive inventiveness inventor inventors inventory invents inverse invertebrate
invertebrates invest invested investigate investigated investigates investigating
investigation investigations investigative investigator investing investment investments
investor investors invigorating invincible invisible invitation invitations invite invited
invites inviting invocation invoked invokes involuntary involve involved involvement involves
involving invulnerable inward iodine ion ionic ionisation ionization ions ir irate iron ironic
ironically ironies irony irrational irreconcilable irregular irregularities irrelevant
irrepressible irresistible irresponsible irreverent irrevocable irrigation irritating
irritatingly is isbn ish island islands ism isobutane isolate isolated isolation isomer
isomerization isomers isopentane isotope isotopes isotopic issuance issue issued issues
issuing ists it italics item items its itself iucn iv ivans jabs jackal jacket jacque jaded
jail jailed jam jame jams janitor jar jargon jarring jaunt jaw jaws jazz jazzy jealous
jealousy jell jelly jeopardized jeopardy jerk jerking jerky jest jet jettisoned jewellery
jewelry jig jimcrowala job jobless jobs joeblack joie join joined joining joins joint jointed
jointly joints joke jokes jokester jolly jolt jolting jolts journal journalism journalist
journalists journals journey journeys joy joyful joyless joyous joys jpg ju judge judged
judges judgment judgments judicial judiciary judicious judo juggle juice juicy jumble jumbo
jump jumping jumps jungle junior junk junkie juries jurisdiction jurisdictional jurisdictions
jury just justice justices justification justified justifies justify justly jutsu juvenile
juxtaposition ka kangaroo kanji karate karma kazemzadeh keeling keen keenly keep keeping keeps
kelp kenz kept keratin kettle key keyboard keyboards keys khanates ki kick kicked kicking
kicks kid kiddie kidnap kidnapped kidnapping kidnaps kidney kidneys kids kill killed killer
killers killing killings kills kilogram kilometers kilometres kilter kin kind kinda kindly
kindness kindred kinds kinetic king kingdom kingdoms kingpin kings kinky kinship kiosks kissed
kisses kissing kit kitchen kithara kitsch kitten km knack knave knee knees knew knife knight
knitting knock knocked knocking knockoff knockout knocks knot know knowing knowledge known
knows kooky kosmonavt kouros ksv kung ky la lab label labeled labeling labelled labor
laboratories laboratory labored labour labyrinth laced lack lacked lacking lackluster lacks
lad ladder ladders ladies lads lady laid laissez lakes lame lament lamp lan lancet land landed
landing landlocked landmark landmass landmines lands landscape landscapes landslide lang
language languages languid languorous lanthanide lap lapses laptop large largely larger
largest lark larva larvae larval laryngeal las laser lasers lash last lasted lasting lasts
late lately later lateral laterally latest latitude latitudes latter lattice laudable lauded
laugh laughable laughably laughed laughing laughs laughter launch launched launcher launches
launching laundry laureate laureates laurel lavish lavishly law laws lawsuit lawyer lawyers
lax lay layer layered layers laying layout lays lazy lb lbm ld le leaching lead leaden leader
leaders leadership leading leads leaf league leaks leaky lean leaning leap leaping leaps learn
learned learning learns lease leash least leather leave leavened leaves leaving lecture
lectures lecturing led left leftist leg legacy legal legality legally legend legendary legends
legged legislation legislative legislators legislature legislatures legitimacy legitimate legs
leisure leisurely lemon lend lending lends length lengths lengthy lenient lens lent lepidolite
les lesbian lesbianas less lessen lesser lesson lessons let letdown lethal lets letter letters
letting level leveling levels levied levies levy lexical lexicon li liability liaison liaisons
liar libcom liberal liberalism liberals liberate liberated liberating liberation libertarian
libertarianism liberties libertine liberty libido librarian libraries library licence license
lichen lick lids lie lied liege lies liest lieutenant life lifeless lifelong lifestyle
lifetime lift lifted lifting liftoff lifts ligature light lighted lighten lighter lightest
lighthearted lighting lightly lightness lightning lights lightweight likable like likeable
liked likelihood likely likened likeness likes likewise liking limb limbless limbs lime
limestone limit limitation limitations limited limiting limitless limits limp line lineage
lineages linear liner liners lines linger lingering lingers lingua linguist linguistic
linguistics linguists lining link linked linking links lion lip lips liquid liquids liquor
list listed listen listened listening listens listing listless lists lit lite literacy literal
literally literary literate literature liters lithium litmus litter littered little live lived
livelier livelihood livelihoods lively liven liver livery lives livestock living lizard
lizards ll ller lo load loaded loads loan loans loanwords loathe loathing loathsome lobby
lobbying lobbyists lobe loc local locales localities locality localized locally locals locate
located locating location locations lock locked locker locks locomotion lodge lodging loft
lofty log logging logic logical logically logistical logo logographic logs lone loneliness
lonely long longed longer longest longevity longing longitudes longs longstanding longtime
look looked looking looks loom looms loop loophole loopholes loops loopy loose loosely looser
loot looters lord lords lordship lose loser losers loses losing loss losses lost lostmoon lot
lots lottery loud louder loudly lousy lovable love loveable loved lovely lover lovers loves
loving lovingly low lowbrow lower lowercase lowered lowering lowest lowlands lowly lows loyal
loyalist loyalties loyalty lpg lps lr lt luck luckiest lucky lucrative ludicrous lukewarm
lulls lumber luminous lump lunacy lunar lunatic lunch lung lungs lure lured lures lurid
lurking lush lust luster lustre luxury lvez lying lynching lynx lyre lyric lyrical lyricism
lyrics ma macabre machinations machine machinery machines machismo macho macro macroscopic mad
madam madcap maddening maddeningly made madman madness mafia magazine magazines magic magical
magically magicians magnesium magnetic magnetism magnetization magnification magnificent
magnifiers magnify magnifying magnitude magnum maid maiden mail mailing mails main mainland
mainline mainly mainstream maintain maintained maintaining maintains maintenance mais maize
majestic majesties majesty major majorities majority majors majuscule make maker makers makes
makeup making malaise malaria male males malice malignant mall malleable malls mammal
mammalian mammals mammoth man manage managed management manager manages managing mandate
mandated mandatory mane maneuver maneuvers mangrove manhood maniac manic manifestation
manifestations manifesto manifests manipulate manipulated manipulates manipulating
manipulation manipulations manipulative mankind manned manner mannered mannerisms manners
manpower mansion manual manually manufacture manufactured manufacturer manufacturers
manufacturing manure manuscript manuscripts many map mapped mapping maps marble marched
marches marching mares margin marginal marginalized marginally margins marijuana marine
maritime mark marked markedly marker markers market marketable marketed marketing marketplace
markets marking marks markvart marriage marriages married marries marry marrying mars marsh
marshal marshaled martial marvel marveled marvellous marvelous marvelously mas masala masc
masculine mask masked masochism masquerading mass massacre massacres masses massive massively
master mastered masterful masterfully mastering mastermind masterpiece masterpieces masters
mastery mastic match matched matches matching mate mater material materialistic materials
maternal maternity mates math mathematical mathematician mathematicians mathematics matinee
mating matrix matter matters maturation mature maturity maudlin mawkish maxim maxims maximum
may maybe mayhem mayor mayors maze mbox mc mdash me meager meal meals mean meandering meanders
meanest meaning meaningful meaningless meanings means meant meantime meanwhile measles measure
measured measurement measurements measures measuring meat meaty mechanic mechanical
mechanically mechanics mechanism mechanisms med medal medalist medalists medals meddling media
median mediate medical medically medicinal medicine medicines medieval mediocre mediocrity
meditation meditative medium meet meeting meetings meets meiosis mejor melancholic melancholy
melding melodic melodies melodrama melodramas melodramatic melody melt meltdown melted melting
member members membership membrane membranes memo memoir memoirs memoization memorable
memorial memorials memories memorize memory men menace menacing mend menos menstrual mental
mentality mentally mention mentioned mentioning mentions mentor menu mer mercantilism
mercenaries mercenary merchant merchants mercury mercy mere merely merge merged merger merges
merging meridian merit merits merry mesh mesmerizing mesoderm mess message messages messenger
messing messy mesti met meta metabolic metabolism metabolize metal metallic metallurgy metals
metamorphosis metaphor metaphorical metaphors metaphysical metaphysics meteorite meter meters
methane method methodological methodology methods methyl methylbutane methylene methylpentane
metre metres metropolitan mh mi mice micro microalgae microcosm microorganisms microphone
microscope microscopic mid middle middling midlife midnight midst midway midwife midwives
mifepristone might mighty migrant migrants migrated migration migrations mild mildly mile
mileage miles milestones milieu militant militants militarily militarism military militia
militiamen militias milk mill millennia millennium million millionaire millionaires millions
mills mimesis mimetic mimic mimics min mind minded mindless mindlessly minds mindset mine
mined miner mineral minerals miners mines mini miniature minimal minimalist minimize minimized
minimizing minimum mining miniseries minister ministers minor minorities minority minted minus
minuscule minute minutes miracle miracles miraculous mired mirror mirth mis misanthropic
miscarriage mischief mischievous misconduct misdemeanor miserable miserably misery mises
misfire misfit misfits misfortune misguided mishmash mislead misleading mismanagement
misogynist misogynistic misogyny misoprostol miss missed misses missile missing mission
missionaries missionary missions mist mistake mistaken mistakenly mistakes mistress
misunderstanding misunderstood misuse mix mixed mixes mixing mixture mixtures mm mmutrees
mnemonic mo moaning mob mobility mobilization mobilize mobilized mobs mock mocked mockery
mockumentary mode model modeled modeling models moderate moderately moderates moderation
modern modernisation modernization modernize modernized modernizing modes modest modestly
modesty modification modifications modified modify modulus moist moisture mol molasses mold
moldy mole molecular molecule molecules moles molten mom moment momentary momento momentos
moments momentum moms mon monarch monarchy monetary money monitor monitored monitoring monk
monkey monkeys monks monochromatic monoculture monologue monopoly monotonous monster monsters
monstrous mont montage month monthly months monument monumental monuments mood moods moody
moonlight moral morale morality morally morbid more mores morn morning mornings moronic morose
morph morphology morrow mortal mortality mortar mortgage mosaic mosaics mosque mosques most
mostly motel mother motherhood mothers motifs motile motion motions motivated motivates
motivating motivation motivations motive motives moto motor motorcycle motto moulding mound
mount mountain mountainous mountains mounted mounting mounts mourn mourning mouse mouth
mouthed mouthparts mouths movable move moveable moved movement movements moves movie
moviegoers moviegoing moviemaking movies movimiento moving mu much muchas mucho muckraking
mucous mucus mud muddle muddled muddy mugging mugham mujahideen mull multi multicellular
multimedia multimillion multinational multiple multiplex multiplication multiplied multitude
mumbo mundane mundo municipal municipalities municipality munitions murder murdered murderer
murdering murderous murders murky muscle muscles muscular musculature muse museum museums mush
mushy music musical musicals musician musicians musings must muster mustering musty mutant
mutants mutate mutated mutation mutations mute muted mutilation mutual mutualism mutualist
mutually my mycobiont myriad myself mysteries mysterious mysteriously mystery mystic mystical
mysticism myth mythic mythical mythological mythology myths na nail nailed nails naive naivet
naked name named namely nameplates names namesake naming nap narcissism narcotics narrated
narration narrative narratively narratives narrator narrators narrow narrowly narrows nary
nasal nasty natgeo nation national nationalism nationalist nationalists nationality nationally
nations nationwide native natives naturae natural naturalism naturalistic naturally nature
natured naught naughty naval navel navigate navigating navigation navigator navy nb nbb nbsp
nchez ncia ncipe ncseonline nd ndash ndez ne near nearby nearest nearly neat neatly
necessarily necessary necessity neck need needed needful needing needle needlessly needs needy
negative negatively negatives neglect neglected neglecting neglects negligible negotiate
negotiated negotiating negotiation negotiations neighbor neighborhood neighborhoods
neighboring neighbors neighbour neighbourhood neighbouring neighbours neither nemesis neo
neopentane nephew nerdy nerve nerves nervous nervy nesimibritannica nest nests net netted
network networks neural neurological neuron neuroses neurotic neutral neutrality
neutralization neutron neutrons never nevertheless new newborn newcomer newcomers newer newest
newfangled newfound newly news newspaper newspapers newt newts next ng ni nia nice nicely
nicest niche nickel nickname nicknamed niece nifty night nightclub nightly nightmare
nightmares nightmarish nights nimble nine nineteen nineteenth ninety ninth nist nitric nitride
nitrogen nitrogenous nitrous nk nl nn no nobility noble noblest nobody noches nocturnal nod
node noir noise noises noisy nomad nomadic nomads nomenclature nominal nominally nominate
nominated nomination nominations nominee nominees non nonane none nonetheless nonexistent
nonfiction nonjudgmental nonny nonpartisan nonpolar nonprofit nonsense nonsensical nonsocial
nonstop nonviolent nor norm normal normality normally norms north northeast northeastern
northerly northern northernmost northward northwest northwestern nos nose nosed nostalgia
nostalgic nostrils not notable notably notation notations notch notches note noted notes
noteworthy nothing notice noticeable noticed notices noticias noticing noting notion notions
notochord notorious notoriously notwithstanding noumenon noun nourishing nourishment nous
novel novelist novelists novella novels novelty novo now nowadays nowhere nowiki ns nssdc
nsted nster nt nuance nuanced nuances nuclear nuclei nucleon nucleosynthesis nucleus nuclide
nuclideschart nude nudity nugget null number numbered numbering numbers numbing numbingly
numbness numeral numeric numerical numerically numerous nunnery nurse nursery nurses nursing
nurtured nurturing nut nutrient nutrients nutrition nutritional nuts nutty nymph nytimes oak
oasis oath obedience obey object objected objectid objection objectionable objective
objectives objectivity objects obligation obligations obligatory oblivion obnoxious obscure
obscured obscurity observable observance observant observation observational observations
observe observed observer observers observes observing obsessed obsession obsessions obsessive
obsolete obstacle obstacles obstruction obtain obtained obtaining obvious obviously
obviousness occasion occasional occasionally occasions occult occupation occupational
occupations occupied occupies occupy occupying occur occurred occurrence occurring occurs
ocean oceanic oceans octahedra octahedral octahedron octane octopus odd oddball oddballs
oddest oddity oddly odds ode odor odore odyssey oed of off offbeat offence offences offend
offended offense offenses offensive offensives offer offered offering offerings offers office
officer officers offices official officially officials offs offset offshore offspring oft
often og oh oi oil oils oilsandfacts oily ois ojaq okay ol ola old older oldest olds olfactory
olive olives omega ominous omission omit omitted omnibus omnipotent omote on onboard once
oncol one onepage ones oneself ongoing online only onscreen onset onto ontology onward onwards
oodles oozes op opaque opec open opened opening openings openly openness opens opera operas
operate operated operates operatic operating operation operational operations operative
operator operators opined opinion opinions opium oportunidad opponent opponents opportunities
opportunity oppose opposed opposes opposing opposite opposites opposition oppressed oppression
oppressive oppressively oppressors ops opted optic optical optics optimal optimism optimistic
optimization option optional options opts opus or oracle oracles oracular oral orange orbit
orbital orbitals orbited orbiting orbits orchestra orchestrated orchestrates orchid ordeal
order ordered ordering orderly orders ordinarily ordinary ordnance ore organ organic
organisation organisational organisations organised organism organisms organization
organizational organizations organize organized organizes organizing organolithium
organosodium organs orgy oriental orientation oriented origin original originality originally
originate originated originates origins orloff ornate orphan orphans orthographic orthography
os oscillation oscillator ossified ostensibly other others otherwise otherworldly ots ought
ouija ounce ounces our ours ourself ourselves ous out outbreak outburst outbursts outcast
outcome outcomes outcompete outcrops outcry outdated outdoor outer outermost outfits outgroup
outing outlandish outlaw outlawed outlaws outlet outlets outline outlined outlines outlook
outmaneuvered outnumber outposts output outputs outrage outrageous outrageously outreach
outright outs outset outshine outside outsider outsiders outskirts outsmarted outsource
outsourcing outspoken outstanding outtakes outward outwardly outweigh outweighs outwit oven
over overall overbearing overblown overboard overcame overcome overcomes overdone overdose
overdue overgrown overgrowth overhead overheated overkill overland overlap overlapping
overload overlong overlook overlooked overlooking overly overnight overpower overproduced
overran overreaching override overrun overseas oversee overseeing overshadowed oversight
overstated overstuffed overt overtaken overthrew overthrow overthrown overtly overtook
overturn overturned overview overweight overwhelm overwhelmed overwhelming overwhelmingly
overwhelms overworked overwritten overwrought oviduct ovoviviparous owe owed owes owing owl
own owned owner owners ownership owning owns ox oxidation oxide oxides oxygen oxygenated pa
pace paced pacifism pacifist pacifists pacing pack package packages packaging packed packet
packing packs pact pad padded padding paddy pads paean pagan page pages paid pain painful
painfully pains paint painted painter painters painting paintings paints pair paired pairing
pairs pais pal palace palaces palatable pale paleo paleontology palette palm palpable pals
pamphlet panache pandering panel panels panic panoramic pantheon pants paper paperback papers
papyrus par para parable parachute parachutes parade paradigm paradigms paradise paradox
paradoxes paradoxically paraffin paraffins paragraph parallel paralleling parallels paralyzed
parameters paramilitary paramount paranoia paranoid paraphyletic parasites parasitic pardon
pared parent parental parentheses parents parish parishes parity park parking parkland parks
parlance parliament parliamentarian parliamentary parlor parody part partake parte parted
partement partial partially participant participants participate participated participating
participation participatory particle particles particular particularly particulars parties
parting partisan partisans partisanship partly partner partnered partners partnership
partnerships parts party partying pasha pass passable passably passage passages passed
passenger passengers passes passing passion passionate passionately passions passive passport
past paste pastiche pastime pastor pastoral pastry pasture pastures pat patch patches pate
patent patentable patented patents paternal path pathetic pathogen pathological pathologically
pathology pathos paths pathway patience patient patiently patients patriarchy patriot
patriotic patrol patrols patron patronage patronizing patrons pattern patterned patterns
paucity pause pave paved pavement pavements paving pawn pay payback paycheck paychecks payer
paying payment payments payoff payroll pays pbk pdf pe peace peaceful peacekeeping peacetime
peak peaked peaks peasant peasants pebbles peculiar pedagogy peddler pederasty pedestal
pedestrian pedigree pee peek peep peer peers peg pegged pel pelican pelvic pelvis pen pena
penal penalties penalty penchant pencil pending penetrate penetrating peninsula penned
penniless penny pension pensions pentacosane pentane people peoples peppered per perceive
perceived perceives percent percentage percentages perceptible perception perceptions
perceptive perceptual perch perchance perchloric percolating percussion perennial perfect
perfection perfectly perform performance performances performed performer performers
performing performs perfume perfunctory perhaps peril perilous perilously perils period
periodic periodically periods peripheral peripteral perish perishable permanent permanently
permeable permeates permission permit permits permitted permitting pero peroxide peroxides
perpetrated perpetrator perpetrators perpetual perpetually perplexed persecuted persecution
perseverance persevere persisted persistence persistent persists person persona personal
personalities personality personally personas personified personnel persons perspective
perspectives persuade persuaded persuades persuasive pertaining pertains pertinent pervasive
perverse perversely perversion perverted peseta pesky pessimism pessimistic pest pesticide
pesticides pests pet petition petitions petrochemical petroleum petteia petty pg
pharmaceutical pharmacist pharmacological pharmacy phase phases phenols phenomena phenomenal
phenomenology phenomenon philologic philosopher philosophers philosophic philosophical
philosophies philosophy phone phoneme phonemes phonemic phones phonetic phony phosphate
phosphides phospholipid phosphoric phosphorus photo photobiont photoelectric photograph
photographed photographer photographic photographs photography photon photons photos
photosynthesis photosynthetic photovoltaic phrase phrases phylogeny phylum physical physically
physician physicians physicist physicists physics physiological physiology physique
phytoplankton pianist piano pic pick picked picking picks picnic picture pictures pie piece
pieces piercing piffle pig pigment pigs pike pile pileup pilgrim pilgrimage piling pill
pillars pills pilot piloting pilots pimp pin pine pink pinnacle pins pioneer pioneered
pioneering pioneers pious pipe pipeline pipelines pipes piquant pirate pirates pistol pit
pitch pitched piteous pitfalls pith pithy pitiful pits pitted pitting pity pivot pivotal pizza
pjhwpa pl place placed placement places placing plague plagued plagues plain plainly plains
plaintiff plan plane planes planet planetary planets planned planning plans plant plantation
plantations planted planting plants plaque plasma plaster plastic plastids plate plated plates
platform platforms platinum platitudes platonic platter plausible play played player players
playful playing playoff plays playwright playwrights plea plead pleading pleads pleas pleasant
pleasantly please pleased pleaser pleasing pleasingly pleasurable pleasure pleasures pledge
pledged plentiful plenty plight plink plodding plods plot plotline plots plotted plotting ploy
plucked plucking plug plumbing plummeted plunge plural plurality plus pm pmid poachers pocket
pocketbook pockets poder podium poem poems poet poetic poetical poetically poetics poetry
poets pogo poignancy poignant poignantly point pointed pointing pointless points poised poison
poisoned poisoning poisonous pok poke pokes poking polar polarized pole police policeman
policemen policies policing policy polio polished polite politica political politically
politician politicians politics poll pollination polls pollucite pollutants pollution
polyethylene polynomial polyphyletic polystyrene pompous pond ponder ponderous ponds pony poo
pool pooling pools poor poorer poorest poorly pop popcorn poplar popping populace popular
popularity popularized popularly populated population populations populous por porch pore pork
porn porno pornography porous port portable portal portion portions portrait portraits portray
portrayal portrayals portrayed portraying portrays ports pose posed poses posing posited
position positioned positions positive positively positives posits possess possessed possesses
possessing possession possessions possibilities possibility possible possibly post postage
postcard poster posterity posters posthumously postmodern postponed posts postulate postulated
postulates posture posturing pot potassium potato potatoes potboiler potency potent potential
potentiality potentially potentials potion potshots pottery potts pound pounding pounds pour
poured pouring pours poverty powder power powered powerful powerfully powerless powers pp ppen
pr practical practically practice practiced practices practicing practise practised practising
practitioner practitioners pragmatic prairie prairies praise praised praises praising pranks
pratfalls pray prayed prayer prayers praying prays pre preach preaches preaching preachy
preamble precarious precautions preceded precedent preceding precepts precinct precious
preciousness precipitation precise precisely precision preciso precocious precog precursor
predator predators predatory predecessor predecessors predicament predicated predict
predictability predictable predictably predicted predicting prediction predictions predicts
predominant predominantly preemptive preexisting preface prefer preferable preference
preferentially preferred preferring prefers prefix prefixes pregnancies pregnancy pregnant
prehistoric prejudice prejudices preliminary premature premier premiere premise premises
premiums preoccupation preordained prep preparation preparations prepare prepared prepares
preparing preposterous preprint prequel preschool prescribe prescribed prescription presence
present presentation presented presenting presently presents preservation preservative
preserve preserved preserves preserving presided presidency president presidential presidents
presiding pressed pressing pressure pressured pressures prestige prestigious presumably
presumed presumes preteen pretend pretending pretends pretense pretension pretensions
pretentious pretty prevail prevailed prevailing prevails prevalence prevalent prevent
preventable prevented preventing prevention preventive prevents preview previous previously
prey price priced priceless prices pride priest priestess priests prima primal primarily
primary primates prime primeval primitive primitivism primordial prince princes princess
princesses principal principalities principality principally principals principle principled
principles print printable printed printer printers printing prints printsec prior priori
priorities priority prism prison prisoner prisoners pristine privacy private privateer
privateers privately privatization privatize privilege privileged privy prize prizes pro
probability probable probably probe probes probing problem problemas problematic problems
procedural procedure procedures proceed proceeded proceeding proceedings proceeds process
processed processes processing procession processor processors proclaim proclaimed proclaiming
proclamation procurement prod produce produced producer producers produces producing product
production productions productive productivity products profane profanity professed profession
professional professionalism professionally professionals professor professors proficiency
proficient profile profiles profiling profit profitable profits profound profoundly profundity
prognosis program programme programmed programmer programmers programmes programming programs
progress progressed progresses progression progressive progressively prohibit prohibited
prohibition proj project projected projection projections projector projects proletariat
proliferation prolific prologue prolongation prolonged prominence prominent prominently
promise promised promises promising promisingly promote promoted promoter promotes promoting
promotion promotions prompted prompting prompts prone pronoun pronounce pronounced
pronunciation proof prop propaganda propane propellant propelled propels propensity proper
properly properties property prophecy prophesy prophet prophetic proponent proponents
proportion proportional proportions proposal proposals propose proposed proposes proposing
proposition props propulsion prosaic prose prosecuted prosecution prosecutor prosocial
prospect prospective prospects prosper prosperity prosperous prospers prostaglandin prosthesis
prosthetic prosthetics prostitute prostitutes prostyle prot protagonist protagonists protect
protected protecting protection protective protector protectorate protects protein proteins
protest protested protestors protests protist proto protocol protocols proton protonated
protons prototype protracted proud proudest proudly prove proved proven proves provide
provided providence provider providers provides providing province provinces provincial
proving provision provisional provisions provocative provocatively provoke provoked provokes
provoking prowess proximity prurient pseudo pseudocode psyche psychedelic psyches psychiatric
psychiatrist psychiatry psychic psycho psychoanalysis psychodrama psychological
psychologically psychologist psychologists psychology psychopathic psychotic pt pteron pub
puberty public publication publications publicist publicity publicly publish published
publisher publishers publishing pubs puddled puede puerile pues puff pull pulled pulling pulls
pulp pulpy pulse pummel pump pumped pumping pumps pun punch punched punches punching
punctuated punctuation pundits pungent punish punishable punished punishing punishment punk
pupil pupils puppet puppets puppies purchase purchased pure purely purest purge purged
purification purifying purity purple purportedly purpose purposeful purposefully purposeless
purposely purposes purse pursue pursued pursues pursuing pursuit push pushed pushes pushing
put putrid puts putting puzzle puzzled puzzles puzzling px pyrotechnics pyykko qp quaint
qualification qualified qualifies qualify qualifying qualitative qualities quality quanta
quantitative quantities quantity quantized quantum quarantine quarrel quarry quarter
quarterfinal quarterfinals quarterly quarters quasi quaternary que queasy queen queens quer
query quest question questionable questioned questioning questions quests qui quick quickie
quickly quien quiet quieter quietly quintessentially quirkiness quirks quirky quit quite quits
quo quote quoted quotes quotient quoting ra race races racial racially racing racism racist
racket racy radar radiant radiation radiative radical radically radicals radii radio
radioactive radioactivity radioisotope radius raft rage rages ragged raging rah raid raided
raiding raids rail railroad railroads rails railway railways rain rainbow rainfall rainforests
rains rainy raise raised raises raising rallied rally rallying rambling rambunctious
ramifications rampant ran ranch ranching random randomization randomized randomly randomness
randori rang range ranged ranger ranges ranging rangle rank ranked ranking rankings rankorder
ranks ransom rant rap rape raped rapid rapidly rapiers rapists rapper rappers rapport rard
rare rarely rarity rash rat rate rated rates rather ratification ratified ratify rating
ratings ratio ration rational rationalism ratios rats rattlesnake rattling raucous raunchy
ravaged ravages rave raven ravishing raw ray rays razor rcat rcito rd re reabsorbed reach
reached reaches reaching react reacting reaction reactionary reactions reactive reactivity
reacts read reader readers readily readiness reading readings reads ready real realignment
realisation realise realism realist realistic realistically realities reality realization
realize realized realizes realizing really realm reap reappearance reappears rear reason
reasonable reasonably reasoned reasoning reasons reassure reassured rebel rebelled rebellion
rebellious rebels rebirth rebuild rebuilding rebuilt recall recalled recalling recalls
recapture recaptured recapturing receive received receiver receives receiving recent recently
reception receptor recess recession recipe recipes recipient recipients reciprocal reciprocate
reciprocity recite reckless recklessness reclaim reclusive recognised recognition recognizable
recognize recognized recognizes recognizing recommend recommendation recommendations
recommended recommending recommends reconcile reconciliation reconfigured reconnaissance
reconsidered reconstruct reconstructed reconstruction reconstructions record recorded
recorders recording recordings records recount recover recovered recoveries recovering
recovery recreate recreated recreation recruit recruited recruiting recruitment recruits
rectangle recurring recursion recursive recycle recycled recycles recycling red redeem
redeeming redefine redefinition redemption redemptive redirect rediscover rediscovered
rediscovers rediscovery redistribute redistricting redneck reds reduce reduced reduces
reducing reduction reductions redundant reed reef reefs reel reelected ref refer referee
reference referenced references referencing referendum referential referred referring refers
refined refineries refinery refining reflect reflectance reflected reflecting reflection
reflections reflective reflectivity reflects reform reformation reformed reformers reforming
reforms refractive refrain refreshing refreshingly refrigerator refuge refugee refugees
refusal refuse refused refuses refusing refuted regain regained regains regard regarded
regarding regardless regards regenerate regenerated regeneration regime regimen regimens
regiment regiments regimes region regional regions register registered registration regolith
regression regret regrow regular regularly regulars regulate regulated regulates regulation
regulations regulatory rehabilitation rehash reid reign reigned reigning reignite reigns rein
reindeer reinforce reinforced reinforcement reinforcements reinforcing reins reiterated reject
rejected rejecting rejection rejects rekindled relate related relates relating relation
relations relationship relationships relative relatively relatives relativism relativistic
relativity relax relaxed relay release released releases releasing relegated relentless
relentlessly relevance relevant reliable reliably reliance relic relied relief relies relieve
relieved religion religions religious relinquish relish relocate reluctant reluctantly rely
relying remain remainder remained remaining remains remake remakes remark remarkable
remarkably remarked remarks remedy remember remembered remembering remembers remembrance
remind reminded reminder reminders reminding reminds reminiscent remnants remorse remote
remotely removal remove removed removes removing renaissance renamed renaming render rendered
rendering renders rendezvous rendition renegade renegotiate renew renewable renewal renewed
renounced renowned rent rental renting reopened repair repatriated repay repeal repealed
repealing repeat repeated repeatedly repeating repeats repel repelled repellent repent
repertoire repetition repetitious repetitive replace replaced replacement replacements
replaces replacing replete replication replied reply report reported reportedly reporter
reporters reporting reports repose repository represent representation representations
representative representatives represented representing represents repressed repression
repressive reprint reprinted reproduce reproduced reproduction reproductive reptile reptiles
republicanism republics repudiation repugnant repulsed repulsive reputation reputational
reputedly request requested requesting requests require required requirement requirements
requires requiring requisite rescue rescued rescues research researched researcher researchers
researching resemblance resemble resembles resembling resented resentment reservation reserve
reserved reserves reservoirs reset reside residence resident residential residents resides
residual residuals resignation resigned resigns resilience resin resist resistance resistant
resisted resisting resists resnum resolute resolutely resolution resolutions resolve resolved
resolves resonance resonances resonant resonate resonates resort resorted resorting resorts
resource resourceful resources respect respectable respected respectful respecting respective
respectively respects respiration respiratory respite respond responded respondent respondents
responders responding responds response responses responsibilities responsibility responsible
responsibly responsive rest restaurant restaurants resting restless restoration restore
restored restoring restrain restrained restraint restrict restricted restricting restrictions
restrictive restroom rests result resultant resulted resulting results resume resumed resumes
resurfaces resurgence resurrection retail retailer retain retained retaining retains retake
retaliation retarded retelling rethink retire retired retirees retirement retiring retold
retook retooled retraining retread retreat retreated retreating retreats retribution retrieve
retrieved retro retrograde retrospect retrospective retrospectively return returned returning
returns reunion reunions reunite reunited reusch rev reveal revealed revealing reveals revel
revelation revelations revelatory revels revenge revenged revenue revenues reverberates
revered reverence reverent reverie reverse reversed reverses review reviewed reviewer
reviewers reviewing reviews revise revised revision revitalize revival revive revived revolt
revolution revolutionaries revolutionary revolutions revolves revulsion reward rewarded
rewarding rewards reworking rewrite rewritten rg rhetoric rhetorical rhino rhythm rhythmic
rhythms ri ria ribbon ribs ricault rice rich richer riches richest richly richness rick rid
ridden riddled riddles ride rides ridge ridges ridicule ridiculed ridiculous ridiculousness
riding rie rife riff riffs rifle rift rigged right righteous rightly rights rigid rigidly
rigor rigorous rigors ring ringing rings ringside rio riot riots rip ripe ripped ripper
ripping rise risen rises rising risk risked risks risky rites ritual rituals rival rivalry
rivals river rivers riveted riveting rizm rjuna rlich rm road roads roadside roar roaring
roars rob robbed robber robberies robbers robbery robbing robertgraham robot robotic robotics
robots robs robust robustness rock rocket rocking rocks rocky rod rode rodents rods rogue role
roles roll rolled roller rollicking rolling rolls rom romance romances romantic romanticism
romp roof roofing roofs rooftop room roommate roommates rooms root rooted rooting roots rope
ropes rose rotated rotating rotation rotational rote rotten rotting rough roughly round
rounded rounds rouse rousing route routed routes routine routinely routines row rowdy rowing
rows rowspan royal royally royalties rr rsc rt rtius rttemberg rub rubber rubidium rude
rudimentary rueful rug rugby rugged ruin ruined ruining ruins rule ruled ruler rulers rules
ruling rum ruminant rumination rumors run runaway rundown rung runner runners running runoff
runs runway runways rupert rupture ruptured rural rush rushed russo rust rustic rut ruthless
ruthlessly ry sa sabotage sabotaged sac saccharine sack sacked sacred sacrifice sacrificed
sacrifices sacrificial sacrificing sad saddened saddest saddle saddled sadism sadistic sadly
sadness safe safeguard safeguarding safely safer safest safety saga sage said sail sailed
sailing sailor sailors sake sala salacious salad salamander salamanders salaries salary sale
sales salesman salinity salmon salon saloon salt salts salute salvage salvation same sameness
sample sampled samples sampling samurai sanctified sanctimonious sanctimony sanctions sanctity
sanctuaries sanctuary sand sands sane sang sanitation sanity sank sap sappy sar sarcasm
sarcastic sardonic sasha sassy sat satanic satellite satire satiric satirical satisfaction
satisfactory satisfied satisfies satisfy satisfying satrap saturated satyr saucy savage save
saved saves saving savings savior savor savour savvy saw saxophone say saying says sc scala
scale scales scam scams scan scandal scandalous scandals scant scar scarce scarcely scarcity
scare scared scares scarier scariest scars scary scathing scatter scattered scattering
scattershot scenario scenarios scene scenery scenes scenic scent schedule scheduled scheduling
schematic scheme schemes scheming schizophrenia schlock schlocky schmaltz schmaltzy scholar
scholarly scholars scholarship scholarships scholastic school schoolchildren schooling schools
schouoft sci science sciences scientific scientist scientists sclerosis scope score scored
scores scoring scorn scorned scourge scramble scrap scrapbook scrape scratching scream
screaming screams screen screened screening screenings screenplay screenplays screens
screenwriter screenwriters screenwriting screwball screwed scribe script scripted scripting
scripts scriptures scroll scrubber scruffy scrutiny sculpted sculptor sculptors sculpture
sculptures se sea seafood seal sealed seals seamen seamlessly seams seaplane search searchable
searches searching searing seas seaside season seasonal seasonally seasoned seasons seat
seated seating seats seawater seaweed seceded secession secessionists secluded second
secondary secondhand seconds secrecy secret secretaries secretary secrete secreted secretion
secretions secretly secrets section sections sector sectors secular secure secured securing
security sedate sedentary sediment sedis seduce seduced seduces seducing seduction seductive
see seed seeded seeds seedy seeing seek seekers seeking seeks seem seemed seeming seemingly
seems seen seer sees segment segmental segmented segments segregated segregation seize seized
seizes seizing seldom select selected selecting selection selective selectively self selfish
selfishness selfless selflessness sell seller selling sells selves semantic semi seminal
senator senators send sending sends senior seniors sensation sensational sensationalism sense
senseless senses sensibilities sensibility sensible sensing sensitive sensitivity sensors
sensory sensu sensual sensuality sensuous sent sentence sentenced sentences sentient sentiment
sentimental sentimentality sentiments separate separated separately separates separating
separation separatist separatists sequel sequels sequence sequences sequencing sequential
sequestration ser serene serenity sergeant serial series serious seriously seriousness sermon
serpent servant servants serve served server serves service serviceable services serving
servitude session sessions set setbacks sets setting settings settle settled settlement
settlements settlers settles settling setup setups seu seven seventeen seventh seventy several
severe severed severely severity sewing sex sexes sexiest sexism sexist sexual sexuality
sexually sexy shack shade shaded shades shadow shadowed shadows shadowy shady shaggy shake
shaken shakes shaking shaky shall shallow shalt sham shaman shame shameful shameless
shamelessly shan shape shaped shapeless shapes shaping share shared shareholders shares
sharing shark sharks sharp sharper sharply shatter shattered shattering she shear shed
shedding sheen sheep sheer sheet sheets shelf shell shells shelter sheltered shelves
shenanigans sheriff sheriffs shield shielding shift shifted shifting shifts shimmering shine
shines shining shiny ship shipped shipping ships shirt shiver sho shock shocked shocker
shocking shockingly shocks shoddy shoe shoes shook shoot shooting shootings shoots shop
shopping shops shore shoreline shores short shortage shortages shortcomings shortened shorter
shortest shortly shorts shot shots should shoulder shoulders shout shouted shovel show
showcase showcases showdown showed shower showing shown shows showy shred shreds shrewd shrill
shrine shrines shrink shrubs shrugging shrunk shtick shudder shuffling shuns shut shutdown
shuts shuttle shy si sibling siblings sick sickening sickly sickness sico side sided sidekick
sidelines sides sidesplitting sidewalk sideways siege sig sigh sight sighted sightings sights
sign signal signaling signals signature signatures signed significance significant
significantly signify signing signs silence silenced silences silent silently silica silicon
silk silliness silly silt silver simbolismo similar similarities similarity similarly simple
simpler simplest simplicity simplified simplify simplistic simply simulate simulated
simulation simulations simultaneous simultaneously sin since sincere sincerely sincerity
sindavefurinn sing singer singers singing single singled singles sings singular sinister sink
sinks sins sip sir siren sirens sister sisters sit sitcom site sites sits sitting situ
situated situation situations six sixteen sixth sixties sixty sizable size sized sizes sizzle
sjid sk skateboard skateboarding skeletal skeleton skeletons skepticism skeptics sketch
sketches sketchy skewed ski skids skies skiing skill skilled skillful skillfully skills skin
skinned skinny skins skip skipped skipping skirts skittish skull skulls sky skyline slack
slacker slain slang slap slapdash slapstick slash slashed slasher slashing slaughter slave
slaveholding slavery slaves slaying sleazy sled sledgehammer sleek sleep sleeper sleeping
sleepless sleeps sleeve sleeves sleight slender slept slevin slew slice slick slide slides
slideshow slight slightest slightly slim slip slippery slipping slips slits slo slobs slog
slogan slope slopes sloppy sloth slow slowed slowest slowing slowly sluggish slumming slurs
sly smack smacks small smaller smallest smallpox smart smarter smartest smartly smash smeared
smell smelling smile smiles smiling smirk smitten smoke smoking smooth smoother smoothly smug
smuggle smuggler smugglers smuggling snake snakes snap snapping snappy snapshot sneak sneaks
snore snout snow snowfall snowy snuff so soaked soap soapy soar soaring soars sober sobering
sobre soccer social socialism socialist socialists socially societal societies society socio
sociocultural socioeconomic sociological sociologist sociology sociopath soda sodium soft
softness software soggy soil soils sol solace solar sold soldier soldiers sole solely solemn
solid solidarity solidity solidly solids soliloquies solitary solitude solo solubility soluble
solution solutions solvated solvation solve solved solvent solvents solving somber some
somebody someday somehow someone something sometime sometimes somewhat somewhere son song
songs songwriter sons soon sooner sophisticated sophistication sophomore sophomoric soprano
sordid sore sorely soroban sorrow sorry sort sortable sorted sorting sorts sought soul soulful
soulless souls sound sounded sounding sounds soundtrack soup sour source sources south
southeast southeastern southern southward southwest southwestern sovereign sovereignty soybean
sp space spacecraft spaced spaceflight spaces spacetime spacious spade spades span spanning
spans spare spared spark sparked sparking sparkles sparkling sparks sparse sparsely spawn
spawned spay speak speaker speakers speaking speaks spear special specialised specialist
specialists specialized specializing specially specialty species specific specifically
specificity specifics specified specifies specify specimen specimens spectacle spectacular
spectacularly spectator specter spectra spectral spectroscopy spectrum specular speculation
speculative speculators speech speeches speed speeds speedy spell spellbinding spelled
spelling spells spend spending spends spent sperm spermatophore sphere spheres spice spider
spiders spies spiffy spiked spills spin spinal spine spines spinning spins spiral spirals
spirit spirited spirits spiritual spirituality spiritually spit spite splash splashdown
splashed splendid splendidly splendor spliced splinter split splits splitting spoils spoke
spoken spokes spokesman sponge sponges sponsor sponsored spontaneity spontaneous spontaneously
spoof spoofing spookiness spooks spooky spoon sporadic sporadically spore spores sport
sporting sports sportspeople spot spotlight spotlights spots spouses spout spp sprawling spray
spread spreading spreads spree sprightly spring springboard springs springtime sprung spunk
spunky spur spurred spurs sputters spy sq squad squadron squander squandered squanders square
squared squarely squares squeeze squeezed squirrel ss st stab stabbed stabbing stabilisation
stability stabilization stabilize stabilized stable stacked stacks stadium staff stage staged
stages staggered staggeringly staging stagnant stagnation stagy stain stained stainless stairs
stake stakes stale stalk stalked stalker stalking stalks stalls stamina stamp stamps stance
stances stand standard standardized standards standing stands staple star stardom stare
staring stark starred starring stars start started starting startling starts startups starving
stash stasis state stated statehood stateless stately statement statements states statewide
static stating station stationary stationed stations statism statistic statistical
statistically statistician statisticians statistics stats statue statues statuette statuettes
stature status statute statutes statutory stay stayed staying stays steadfast steadily steady
steal stealing steals steam steamy steel steelworkers steep steeped stellar stem stems step
stepmother steppe stepped stepping steps stereo stereotype stereotyped stereotypes
stereotypical sterile sterling stern stew stewards stica stick sticking sticks sticky stiff
stifled stifling stigma still stillborn stills stilted stimulate stimulated stimulates
stimulating stimuli stimulus sting stinging stinker stinks stir stirring stirs stitch stitched
stock stockpile stole stolen stolid stomach stomachs stone stones stood stooping stoops stop
stopped stopping stops storage store stored stores storey storied stories storm stormed storms
stormy story storyboard storyline storylines storyteller storytelling straight straightforward
strain strained straining strains strand stranded strands strange strangely strangeness
stranger strangers strangest strata strategic strategically strategies strategy straw stray
strays streak stream streamed streamline streamlined streams street streets strength
strengthen strengthened strengthening strengths strenuously stress stressed stresses stretch
stretched stretches stretching strewn stricken strict strictly strides strife strike strikes
striking strikingly string stringent strings strip striped stripes stripped strive strives
striving stroke strokes strolls strong stronger strongest stronghold strongly strontium struck
structural structure structured structures structuring struggle struggled struggles struggling
strung struts stubborn stubbornly stuck studded student students studied studier studies
studio studios study studying stuff stuffy stumble stumbles stumbling stunned stunning
stunningly stunt stunts stupefying stupid stupidity sturdy sturgeon style styled styles
stylings stylish stylishness stylist stylistic stylized stylobate su sua suanpan sub subarctic
subclass subconscious subcontinent subculture subdivided subdivisions subdued subfield
subgroup subgroups subject subjected subjective subjects sublime sublimely submarine
submarines submerged submit submitted suborder suborders subordinate subpage subplot subplots
subpoena subproblems subscribers subsequent subsequently subset subshell subsidiary subsidies
subsidized subsistence subspecies substance substances substandard substantial substantially
substantive substitute substituted substitutes substitution substrate substratum subtext
subtitled subtitles subtle subtler subtlety subtly subtract subtraction subtropical suburb
suburban suburbia suburbs subversive subway succeed succeeded succeeding succeeds success
successes successful successfully succession successive successively successor successors
succinct succumb succumbed succumbing succumbs such suck sucked sucker sucking sucks suction
sudden suddenly sudsy sued sueno suffer suffered suffering suffers sufficient sufficiently
suffix suffocating suffrage sugar sugary suggest suggested suggesting suggestion suggestions
suggestive suggests suicidal suicide suicides suit suitable suitcase suite suited suits
sulfonic sulfur sulfuric sultry sum summarized summarizing summary summation summed summer
summers summertime summit summon summoned summons sumo sumptuous sums sun sunflower sung sunk
sunlight sunny sunset sunshine sup super superb superbly superficial superficiality
superficially superfluous superhero superhuman superintendent superior superiority superiors
superlative supermarket supernatural supernovae superorder superoxide superoxides superscripts
superseded superstar superstition supervise supervised supervision supplement supplied
supplier suppliers supplies supply supplying support supported supporter supporters supporting
supportive supports suppose supposed supposedly suppress suppressed suppressing suppression
supra supremacy supremely sur sure surefire surely surest surf surface surfaces surfer surfing
surge surgeon surgeons surgery surgical surgically surname surpassed surpassing surplus
surpluses surprise surprised surprises surprising surprisingly surreal surrealism surrender
surrendered surrogate surround surrounded surrounding surroundings surrounds surveillance
survey surveyor surveys survival survivalist survive survived survives surviving survivor
survivors sus susceptible suspect suspected suspects suspend suspended suspending suspense
suspenseful suspension suspicion suspicious sustain sustainability sustainable sustained
sustains sustenance suzerainty svar swaggering swallow swallowed swallowing swamped swamps
swan swap swashbuckler swashbuckling swaths sway swear swearing sweat sweating sweaty sweep
sweeping sweeps sweet sweetheart sweetly sweetness swell swept swim swimmer swimming swing
swinging swings swipe switch switched switches switching swooping sword swords swore sworn sy
syllabary syllabic syllable syllables symbiotic symbol symbolic symbolism symbolized
symbolizes symbols symmetrical symmetry sympathetic sympathies sympathy symphonic symptom
symptoms synagogue synaptic synchronised synchronization synchronized synchronous syncrude
syndicalism syndicalist syndicalists syndicate syndromal syndrome syndromes synonym synonymous
synonyms syntactic syntax synthesis synthesized synthetic syrup system systematic
systematically systemically systems sz table tables tablet tablets tabloid tabloids taboo tabs
tackle tackles tackling tacky tactic tactical tactics tactile tad tadpole tadpoles tag tagline
tai tail tailor tailored tails take taken takeover takers takes taking taktub tale talent
talented talents tales talk talked talking talks talky tall tallest tally tamb tame tan tangle
tangled tank tanks tap tape tapes tapestry tapped tapping taps tar target targeted targets
tariff tariffs tarmac tart task tasks taste tasteful tasteless tastelessness tastes tasty tat
tate tattered tatters tattoo tattoos taught taut tawdry tax taxa taxation taxed taxes taxi
taxing taxon taxonomic taxonomy taxpayer taxpayers te tea teach teacher teachers teaches
teaching teachings team teamed teammate teams tear tearing tearjerker tears tease teasing teau
teborg tech technical technically technician technicians technique techniques techno
technological technologies technology tedious tediously tedium teeming teen teenage teenager
teenagers teens teetering teeth tele telecast telecommunications telegram telegraph
telegraphed teleost teleosts telepathic telephone teleprinter telescope telescopes televised
television tell telling tells tellurium temper temperament temperate temperature temperatures
tempered template temple temples tempo temporarily temporary tempt temptation tempting ten
tenacious tenacity tend tended tendencies tendency tender tenderly tenderness tenders tending
tends tenets tennis tenor tens tense tension tensions tensor tent tentacles tentative tenth
tenure tepid term termed terminal terminally terminals terminate terminated terminates
terminating termination terminator terminology termite termites terms terra terrain
terrestrial terrible terribly terrific terrifically terrified terrifying territorial
territories territory terror terrorism terrorist terrorists tertiary test testament tested
testified testify testimony testing testosterone tests tetrahedral tetrahedron tetrapod
tetrapods text textbook textbooks textile texts texture tfreviews th thallium than thank
thanked thankful thankfully thanks that the theater theaters theatre theatres theatrical thee
theft their theirs them thematic thematically theme themed themes themselves then thence
theologian theologians theological theology theorem theoretical theoretically theories
theorist theorists theorizing theory therapeutic therapy there thereafter thereby therefore
thereof thermal thermodynamic thermodynamics thermoplastic these thesis they thick thicker
thickness thief thieves thin thine thing things think thinker thinkers thinking thinks thinly
thinner third thirds thirst thirsty thirteen thirteenth thirties thirty this thistle thorax
thorium thorny thorough thoroughfare thoroughly those thou though thought thoughtful
thoughtfulness thoughts thousand thousands thread threadbare threads threat threaten
threatened threatening threatens threats three threshold threw thrice thrift thrill thrilled
thriller thrillers thrilling thrills thrive thrived thrives thriving throat throes throne
through throughout throw throwaway throwback throwing thrown throws thrust thrusters thrusts
thugs thumb thumbnail thumbs thunder thunderstorms thus thwart thy thyroxine thyself ti tick
ticker ticket tickets ticking ticks tico tidal tide tides tidy tie tied tiempo tiene tier ties
tiger tigers tight tightened tightening tightly till timber time timed timeframe timeless
timeline timely timer times timid timing tiniest tinkering tiny tip tipped tips tire tired
tirelessly tiresome tiresomely tis tissue tissues tit titanium title titled titles titular to
toad toads tobacco toc toda today toddler toddlers todo toe toed toes together toilet token
told tolerable tolerance tolerant tolerate toll tomatoes tomb tombs tomorrow ton tonal tone
tones tongue tongues tonight tonnes tons too took tool tools tooth top topic topical topics
topography topped topple tops torch tori tormented torn tornado tornadoes torpor torrent
torsion tortoise torture tortured torturing toss tossed tosses tossing total totaled
totalitarian totalitarianism totalled totally touch touched touches touching tough tougher
toughest tour toured tourism tourist tourists tournament tournaments tours tow toward towards
tower towering towers town towns township townships toxic toy toys tr trace traced traces
track tracked tracking tracks tract tractor tracts trade trademark traders trades trading
tradition traditional traditionally traditions traffic tragedies tragedy tragic tragically
trail trailer trails train trained trainees trainer training trains trait traits trajectory
trance trans transaction transactions transatlantic transcend transcendent transcendental
transcends transcontinental transfer transferred transferring transfers transform
transformation transformations transformed transforming transforms transgressive transient
transit transition transitional transitions translate translated translates translation
translations translator translators transmission transmissions transmit transmitted
transmitting transmutation transparency transparent transparently transpersonal transplant
transport transportation transported transporting transports trap trapped trappings traps
trash trashy trauma traumas traumatic travails travel traveled traveler travelers traveling
travelled traveller travelogue travels traverse travesty tre treacherous treachery treading
treads treason treasure treasures treasury treat treated treaties treating treatise treatises
treatment treatments treats treaty tree trees tremble trembling tremendous tremendously trench
trenchant trenches trend trends triad trial trials triangle triangular tribal tribe tribes
trible tribulations tribunal tributary tribute tributes trick tricked trickle tricks tricky
tried tries trifle trifling trigger triggered triggering triggers trillion trillions
trilobites trilogy trim trimester trimming trio trip tripe triple tripod triprotic trips
triste trite triumph triumphant triumphantly triumphs trivial troop troopers troops tropes
trophy tropical tropics trouble troubled troubles troubling troupe trousers trout truck trucks
true truest truly trumped trumpet trumpets trunk trust trusted trusting trusts truth truthful
truths try trying ts tt ttingen tub tuba tube tuberculosis tubes tucked tug tuition tumult
tumultuous tumulus tuna tundra tune tuned tunes tunnel tunnels turbulent turf turgid turmoil
turn turnaround turned turner turning turns turntablism turtle tutor tutors tv tvbythenumbers
twaddle twelfth twelve twenties twentieth twenty twere twice twin twins twist twisted twisting
twists twisty two type types typewriter typewriters typhoid typical typically typing typo
tyranny uel ugly uke ukemi ultimate ultimately ultimatum ultra ultrasound ultraviolet um uma
un una unabashed unabashedly unable unacceptable unaccountable unaffected unambiguous
unanimous unanimously unanswered unapologetic unappealing unarmed unassuming unattractive
unavailable unavoidably unaware unbalanced unbearable unbearably unbelievable unbelievably
unblinking unborn unbridled unbroken uncanny uncertain uncertainties uncertainty unchanged
unchanging uncharted unchecked uncial uncle unclear uncles uncomfortable uncomfortably
uncommon uncommonly uncomplicated uncompromising unconditional unconnected unconscious
unconsciously unconstitutional uncontrolled unconventional unconventionally unconvincing
uncover uncovered uncovering uncovers und undead undemanding undeniable undeniably under
underbelly underconnectivity undercover undercurrent undercut undercuts underdeveloped
underdog underemployed underestimate underestimated undergo undergoes undergoing undergone
undergraduate underground underlies underlined underlying undermine undermined undermines
undermining underneath undernourished underpaid underrated underrepresented underscore
underscored understand understandable understandably understanding understands understated
understatement understood undertake undertaken undertaking undertones underwater underway
underwear underwent underworld underwritten undetected undeveloped undisciplined undiscovered
undisputed undistinguished undo undocumented undone undoubtedly undulating undying unearthed
unease uneasily uneasy unemployed unemployment unep unequal uneven uneventful unexamined
unexpected unexpectedly unexplained unexplored unfair unfairly unfamiliar unfavourable
unfinished unflattering unflinching unfocused unfold unfolding unfolds unforced unforeseen
unforgettable unfortunate unfortunately unfulfilled unfulfilling unfunny unhappily unhappy
unhexpentium unholy unhurried unicameral unicellular unification unified uniform uniformly
uniforms unify unifying unimaginable unimaginative unimpeachable unimpressive uninhabited
uninitiated uninspired unintended unintentional unintentionally uninteresting uninvolving
unions unique uniquely uniqueness unit unitary unite unites uniting units unity universal
universality universally universals universe universities unjust unjustified unknowable
unknowingly unknown unlawful unleash unleashed unleashes unleashing unless unlikable unlike
unlikely unlimited unlock unlucky unmanned unmemorable unmistakable unmistakably unnamed
unnatural unnecessary unnerving unnoticed uno unoriginal unorthodox unpaid unpaired unpleasant
unpopular unprecedented unpredictable unprepared unpretentious unprotected unproven
unpublished unqualified unquestionably unravel unravels unrealistic unrealized unrecognised
unrelated unrelenting unrelentingly unremarkable unrequited unresolved unrest unrounded unsafe
unsafely unsatisfactory unsatisfied unsatisfying unsavory unscathed unscrupulous unseen
unsentimental unsettled unsettling unsettlingly unshakable unsolvable unsolved unsortable
unspeakable unspoken unstable unstoppable unsuccessful unsuccessfully unsung unsure
unsurprising unsuspecting unsustainable unsympathetic untalented untenable unthinkable until
unto untold untouched untrained untrue unturned ununennium unusual unusually unveiled unveils
unwanted unwatchable unwavering unwelcome unwieldy unwilling unwillingness unwitting
unwittingly unworthy unyielding up upbeat upcoming update updated updating upgrade upgraded
upgrader upgraders upheaval upheld uphold uplifting uploads upon upper uppercase upright
uprising uprisings uproar uproarious ups upset upside upstate upstream uptight upward upwards
ur ura uranium urban urbanization urbanized urea urge urged urgency urgent urges urging uric
urinary urine url us usage use used useful useless user users uses ushered using usual usually
uterine uterus utilitarian utility utilization utilize utilized utilizes utilizing utopian
utter utterly vacation vaccination vaccine vacuous vacuum vague vaguely vagueness vain vale
valence valiant valiantly valid validated validity valley valleys valor valuable value valued
values valve vampire vampires van vandalism vanderkrogt vanish vanished vanishes vanity
vantage vapid vaporisation vapour var variable variables variance variances variant variants
variation variations varied varies varieties variety various variously varnish vary varying
vascular vassal vassals vast vastly vaudeville vault ve vector ved veers vegetable vegetables
vegetation vegetative vehemently vehicle vehicles vein veins vel velocity vendor veneer
venerated vengeance venom venomous vent venting ventral ventricle venture ventures venue
venues ver verb verbal verbally verdict verge verified verite versa verse verses version
versions versus vertebra vertebrae vertebral vertebrate vertebrates vertical vertically
vertices verve very vessel vessels vest vested vet veteran veterans veterinarian veterinary
veto vetoed vets vetting vez vi via viability viable vibe vibrant vibrations vice vicinity
vicious viciously victim victims victories victorious victory vida video videos videotape vie
view viewed viewer viewers viewing viewpoint viewpoints views vigas vigilante vignettes
vigorous vigorously vile villa village villagers villages villain villainous villains vinegar
vintage violate violated violation violations violence violent violently violet violin
violinist virgin virginity virtual virtually virtue virtues virtuosity virtuous virulent virus
visa visage visas visceral viscosity viscous visibility visible vision visionary visions visit
visitation visited visiting visitor visitors visits vistas visual visually visuals vital
vitality vivid vividly vivre vocabulary vocal vocational voice voiced voices void voids vol
volatile volcanic volcano volleyball vols volt voltage volume volumes voluntary volunteer
volunteered volunteering volunteerism volunteers vom vomit von vote voted voter voters votes
voting voucher vouchers vouchsafe vow vowed vowel vowels vows vox voyage voyages voyeuristic
vr vs vu vulgar vulgarity vulnerability vulnerable wa wacky wafer wage waged wager wages wagon
waist wait waited waiting waitress waits waivers wake wakes waking walk walked walker walking
walks wall wallet wallop wallow wallowing walls wander wandering wanders waned wanes wannabe
want wanted wanting wanton wants war ward warden warehouse warfare warheads warlike warm
warmed warmer warmest warming warmly warms warmth warn warned warning warnings warns warped
warrant warrants warring warrior warriors wars warships wartime wary was wash washed washy
waste wasted wastes wasting watch watchable watched watches watchful watching water watered
watering waterlogged waterproof waterproofing waters watt wattage wave wavelength wavelengths
wavered waves waving wax waxes way waydowntown ways wayward waza wb we weak weaken weakened
weaker weakest weakly weakness weaknesses wealth wealthiest wealthy weaned weapon weaponry
weapons wear wearing wears weary weasel weather weathered weave weaves weaving web webelements
website websites webster wed wedding weddings weed weeds week weekend weekends weekly weeks
weep weeping weepy weigh weighed weighing weighs weight weighted weightless weightlessness
weights weighty weird weirdly weirdness welcome welcomed welcomes welcoming welfare well wells
welt went weo were werewolf wering west western westernmost westward wet wettest wff whale
what whatever whatsoever wheat wheel wheelchair wheels when whenever where whereabouts whereas
whereby wherein whereto whereupon wherever whether which whiff while whilst whimper whimsical
whimsy whine whiny whip whipped whipping whips whirling whiskey whisky whisper white whites
whitewash who whodunit whoever whole wholesome wholly whom whomever whose why wi wick wicked
wickedly wide widely wider widespread widest widow widowed widower widows width widths
wielding wife wig wiki wikitable wild wilderness wildlife wildly will willed willing willingly
willingness willow wills wilt win wind winded windmill window windows winds windy wine wing
winged wings winner winners winning wins winter winters wipe wiped wiping wire wireless wires
wisdom wise wisely wiser wisest wish wished wishes wishing wistful wit witch witchcraft with
withal withdraw withdrawal withdrawing withdrawn withdrew withered within without withstand
witless witness witnessed witnesses witnessing wits witted witty wives wizard woe woefully
woke wolf wolves woman womb women won wonder wondered wonderful wonderfully wondering
wonderment wonders wondrous wont woo wood woodcut wooden woodland woods wool woolly woozy word
wording wordpress words wore work workable worked worker workers workforce working workings
workout workplace works workshop world worldly worlds worldview worldwide worm worms worn
worried worries worry worrying worse worsen worship worshipped worst worth worthless
worthwhile worthy would wouldst wound wounded wounding wounds woven wow wp wrap wrapped
wrapping wrath wreak wreck wrecked wrench wrenching wrestle wrestler wrestlers wrestles
wrestling wretch wretched wrinkles wrist wristlock writ write writer writers writes writing
writings written wrong wrongly wrote wrought wry www wx xiii xtc xx ya yard yards yarn yawn
yawning ye yeah year yearly yearning yearns years yell yellow yes yesterday yet yg yi yield
yielded yielding yields yoga yolk yolks you young younger youngest youngsters your yours
yourself yourselves youth youthful youths yupana yuppie zany zarb zeal zeitgeist zero
zimmerman zinc zippy zoetrope zombie zombies zone zones zoologist zoology zoos zur
""".split())  # noqa: SIM905
