package dev.lookahead.model;

/**
 * A few paragraphs of plain English (written for this project) from which the tokenizer of a
 * random checkpoint learns its merges. Changing it changes every generated tokenizer.
 */
final class TrainingText {

    private TrainingText() {}

    static final String TEXT = """
            The morning market opens before the sun is fully up. Farmers arrive with their carts, \
            and the first customers are the people who want the best bread and the freshest fish. \
            By eight o'clock the square is full. There are apples, pears and plums on one side, and \
            on the other side there are cheeses, eggs and honey. A woman sells flowers near the \
            fountain, and a man plays the violin for anyone who will stop and listen.

            We walked slowly from one stall to the next. My sister wanted to buy a small basket of \
            strawberries, but the farmer said that the last basket had been sold an hour ago. She \
            asked him when he would have more, and he told her to come back on Saturday. Instead we \
            bought two loaves of bread, a piece of cheese and a jar of honey, and we sat on the \
            steps of the old library to eat.

            The library was built more than two hundred years ago. Its walls are made of grey \
            stone, and its windows are tall and narrow. Inside, the rooms are quiet and cool even \
            in the middle of summer. People come to read newspapers, to study for their exams, or \
            simply to rest for a while. The librarian knows almost every visitor by name, and she \
            always has a recommendation for the next book to read.

            In the afternoon the weather changed. Clouds came in from the west, the wind grew \
            stronger, and the first drops of rain fell on the square. The farmers covered their \
            carts, and the customers hurried home. We waited under the arch of the library until \
            the rain was lighter, and then we ran to the station to catch the train.

            On the train we talked about the day. We agreed that the market was the best part, and \
            that we should go again next week, earlier this time, so that we could buy the \
            strawberries before they were gone. My sister wrote a list of the things we wanted: \
            strawberries, apples, bread, cheese, flowers and a new basket. Then she fell asleep, \
            and I watched the fields and the villages pass by the window until we were home.

            Numbers matter too: the train left at 4:15, it took 35 minutes, and the tickets cost \
            12 euros each. It's a short trip, but we'll remember it, and I'd like to write about it \
            again. Isn't that what a good day is for? We've learned that the simple things are the \
            ones that we're happiest to repeat.
            """;
}
